import { Notification } from '@jupyterlab/apputils';

import { makeBackends, makeJob } from './fixtures';
import { requestAPI, sleep, until } from './spark-fixtures';
import { makeSweep } from './sweep-fixtures';
import { enter, field, rendered } from './testutils';
import { IOpenedDialog, monitorOf, openDialog } from './widget-fixtures';
import { IJob } from '../api';
import { IParam } from '../params';
import { JobsModel } from '../model';
import { JobMonitor } from '../monitor/panel';
import { SubmitForm } from '../submit/dialog';
import { KnownSweeps, knownSweeps, SweepAPI } from '../sweep/api';
import { groupSweeps } from '../sweep/group';
import { learnSweeps, sweepNotificationsPlugin } from '../sweep/plugins';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const PARAMS: IParam[] = [
  { name: 'lr', type: 'float', text: '0.01' },
  { name: 'seed', type: 'int', text: '1' }
];
/** No pool fit, no GPU lookup: these specs are about what is submitted where. */
const NO_FIT = { check: null, gpu: null };

/** Point `p` of sweep `sweep` (an attempt of it: job `id`), in `state`. */
const point = (id: string, p: number, state: string, sweep = 'S') =>
  makeJob(id, {
    state,
    name: `train (lr=0.0${p})`,
    sweep: { id: sweep, point: p }
  } as any);

describe('the dialog with a Sweep section', () => {
  let model: JobsModel;
  beforeEach(() => {
    requestAPI.mockReset();
    model = new JobsModel();
  });
  afterEach(() => model.dispose());

  /** The dialog, its Sweep section opened. */
  async function open(): Promise<IOpenedDialog> {
    const form = new SubmitForm('ana/train.ipynb', makeBackends(), PARAMS, {});
    form.variables = ['val_loss', 'accuracy'];
    const opened = await openDialog(form, NO_FIT, model);
    (
      opened.node.querySelector(
        '[data-testid="sweep-section"] button[aria-expanded]'
      ) as HTMLButtonElement
    ).click();
    await sleep(30);
    return opened;
  }

  it('submits a sweep to POST sweeps when a parameter is swept', async () => {
    // Given lr swept over a list, seed over a range, val_loss collected
    const { dialog, node, result } = await open();
    await enter(field<HTMLSelectElement>(node, 'Sweep lr'), 'list');
    await enter(field(node, 'lr values'), '0.01, 0.02');
    await enter(field<HTMLSelectElement>(node, 'Sweep seed'), 'range');
    await enter(field(node, 'seed from'), '1');
    await enter(field(node, 'seed to'), '2');
    await enter(field(node, 'seed step'), '1');
    (node.querySelector('input[type="checkbox"]') as HTMLInputElement).click();
    await sleep(20);
    expect(node.querySelector('[data-testid="sweep-count"]')!.textContent).toBe(
      '2 × 2 = 4 points'
    );
    // When submitted
    requestAPI.mockResolvedValueOnce(makeSweep({ id: 'sw1' }));
    dialog.resolve(1);
    // Then one POST sweeps with the grid, the names to collect and no swept parameter
    expect((await result).button.accept).toBe(true);
    expect(requestAPI).toHaveBeenCalledTimes(1);
    const [path, init] = requestAPI.mock.calls[0];
    expect(path).toBe('sweeps');
    expect(init.method).toBe('POST');
    const body = JSON.parse(init.body);
    expect(body).toMatchObject({
      notebook: 'ana/train.ipynb',
      backend: 'condor',
      parameters: {},
      sweep: { lr: [0.01, 0.02], seed: [1, 2] },
      collect: ['val_loss']
    });
    expect(dialog.sweep?.id).toBe('sw1');
    expect(dialog.job).toBeNull();
  });

  it('submits a plain job when nothing is swept, and nothing while a sweep value is wrong', async () => {
    const { dialog, node, result } = await open();
    await enter(field<HTMLSelectElement>(node, 'Sweep seed'), 'list');
    await enter(field(node, 'seed values'), '1, x');
    dialog.resolve(1);
    await sleep(20);
    expect(requestAPI).not.toHaveBeenCalled();
    expect(dialog.isAttached).toBe(true);
    // back to one value: an ordinary job
    await enter(field<HTMLSelectElement>(node, 'Sweep seed'), 'single');
    requestAPI.mockResolvedValueOnce(makeJob('9'));
    dialog.resolve(1);
    expect((await result).button.accept).toBe(true);
    expect(requestAPI.mock.calls[0][0]).toBe('jobs');
    expect(JSON.parse(requestAPI.mock.calls[0][1].body).parameters).toEqual({
      lr: 0.01,
      seed: 1
    });
    expect(dialog.job?.id).toBe('9');
    expect(dialog.sweep).toBeNull();
  });

  it("shows the server's refusal of a sweep and stays open", async () => {
    const { dialog, node } = await open();
    await enter(field<HTMLSelectElement>(node, 'Sweep lr'), 'list');
    await enter(field(node, 'lr values'), '0.01, 0.02');
    requestAPI.mockRejectedValueOnce(
      new Error('the sweep has 2,000 points; the limit is 1,000')
    );
    dialog.resolve(1);
    await until(() => node.textContent!.includes('the sweep has 2,000 points'));
    expect(dialog.isAttached).toBe(true);
    dialog.dispose();
  });
});

describe('the job monitor with sweeps', () => {
  it("shows a sweep's points as one row that opens its results", async () => {
    const jobs = [
      makeJob('9', { name: 'plain' }),
      point('8', 0, 'completed'),
      point('7', 1, 'running'),
      makeJob('1', { name: 'older' })
    ];
    requestAPI.mockReset();
    requestAPI.mockResolvedValueOnce({ jobs, total: 4, next_page_token: null });
    const model = new JobsModel();
    await model.refresh();
    const openSweep = jest.fn();
    const monitor = monitorOf(model, { openSweep });
    const node = await rendered(monitor);
    const rows = Array.from(node.querySelectorAll('li')).map(li =>
      li.getAttribute('aria-label')
    );
    expect(rows).toEqual([
      'plain running',
      'train sweep running',
      'older running'
    ]);
    const row = node.querySelector('li[data-sweep-id="S"]')!;
    expect(
      row.querySelector('[role="progressbar"]')!.getAttribute('aria-valuetext')
    ).toBe('1 of 2 done');
    (row.querySelector('button') as HTMLButtonElement).click();
    expect(openSweep).toHaveBeenCalledWith('S');
    monitor.dispose();
    model.dispose();
  });
});

describe('the job monitor: sweep rows grouped, then filtered', () => {
  let model: JobsModel;
  let monitor: JobMonitor;
  let known: KnownSweeps;

  async function show(jobs: IJob[]): Promise<HTMLElement> {
    requestAPI.mockReset();
    requestAPI.mockResolvedValueOnce({
      jobs,
      total: jobs.length,
      next_page_token: null
    });
    model = new JobsModel();
    await model.refresh();
    known = new KnownSweeps();
    monitor = monitorOf(model, {}, known);
    return rendered(monitor);
  }
  afterEach(() => {
    monitor.dispose();
    model.dispose();
  });

  const labels = (node: HTMLElement) =>
    Array.from(node.querySelectorAll('li')).map(li =>
      li.getAttribute('aria-label')
    );
  const count = (node: HTMLElement) =>
    node.querySelector('.jp-SwanML-count')!.textContent;

  it("filters a sweep by its points' newest attempts, counting all its points", async () => {
    // Given a sweep of 3 points: point 1 failed, then ran again and completed; point 2 failed
    const node = await show([
      point('9', 1, 'completed'),
      makeJob('8', { name: 'plain', state: 'completed' }),
      point('4', 2, 'failed'),
      point('3', 1, 'failed'),
      point('2', 0, 'completed')
    ]);
    expect(count(node)).toBe('2 of 2 jobs and sweeps');
    // When only failed jobs are shown
    const state = node.querySelector(
      '[aria-label="Filter by state"]'
    ) as HTMLSelectElement;
    await enter(state, 'failed');
    await rendered(monitor);
    // Then the sweep's row, with every point counted and each point's newest attempt
    expect(labels(node)).toEqual(['train sweep failed']);
    const bar = node.querySelector(
      'li[data-sweep-id="S"] [role="progressbar"]'
    );
    expect(bar!.getAttribute('aria-valuetext')).toBe('2 of 3 done, 1 failed');
    expect(count(node)).toBe('1 of 2 jobs and sweeps');
    // and a state no point is in shows nothing
    await enter(state, 'cancelled');
    await rendered(monitor);
    expect(labels(node)).toEqual([]);
    expect(count(node)).toBe('0 of 2 jobs and sweeps');
  });

  it('says "jobs" while no sweep is listed', async () => {
    const node = await show([makeJob('2'), makeJob('1')]);
    expect(count(node)).toBe('2 of 2 jobs');
  });

  it("states the row with the server's word once it comes", async () => {
    // Given a sweep the user cancelled after one point failed
    const node = await show([
      point('3', 2, 'cancelled'),
      point('2', 1, 'failed'),
      point('1', 0, 'completed')
    ]);
    // the jobs alone say failed
    expect(labels(node)).toEqual(['train sweep failed']);
    // When the server's answer is known (it alone knows the user cancelled it)
    const sweep = makeSweep({
      id: 'S',
      name: 'grid',
      state: 'cancelled',
      counts: {
        total: 3,
        pending: 0,
        running: 0,
        held: 0,
        completed: 1,
        failed: 1,
        cancelled: 1
      }
    });
    known.remember([sweep]);
    await sleep(20);
    // Then the row is re-rendered with its name and state
    expect(labels(node)).toEqual(['grid sweep cancelled']);
  });
});

describe('the end of a sweep', () => {
  const answer = (state: string, over: any = {}) =>
    makeSweep({
      id: 'S',
      name: 'train',
      state: state as any,
      finished_at: state === 'running' ? null : '2026-12-01T10:05:00.000Z',
      counts: {
        total: 2,
        pending: 0,
        running: 0,
        held: 0,
        completed: 1,
        failed: 1,
        cancelled: 0,
        ...over
      }
    });
  let model: JobsModel;
  let server: { jobs: Record<string, IJob>; sweep: any };
  let success: jest.SpyInstance;
  let warning: jest.SpyInstance;

  beforeEach(async () => {
    server = {
      jobs: { '2': point('2', 1, 'running'), '1': point('1', 0, 'completed') },
      sweep: answer('running', { failed: 0, running: 1 })
    };
    requestAPI.mockReset();
    requestAPI.mockImplementation(async (path: string) => {
      if (path.startsWith('jobs?')) {
        const jobs = Object.values(server.jobs).reverse();
        return { jobs, total: jobs.length, next_page_token: null };
      }
      if (path.startsWith('jobs/')) {
        return server.jobs[path.slice(5)];
      }
      if (path === 'sweeps/S') {
        return JSON.parse(JSON.stringify(server.sweep));
      }
      throw new Error(`unexpected ${path}`);
    });
    model = new JobsModel();
    await model.refresh();
    success = jest.spyOn(Notification, 'success').mockReturnValue('n');
    warning = jest.spyOn(Notification, 'warning').mockReturnValue('n');
    const app = {
      serviceManager: { serverSettings: model.serverSettings },
      commands: { execute: jest.fn() }
    };
    sweepNotificationsPlugin.activate(app as any, model, null);
  });
  afterEach(() => {
    success.mockRestore();
    warning.mockRestore();
    model.dispose();
  });

  const sweepGets = () =>
    requestAPI.mock.calls.filter(c => c[0] === 'sweeps/S').length;

  /** A point changed on the server and its event came. */
  async function ends(job: IJob): Promise<void> {
    server.jobs[job.id] = job;
    await model.onEvent({ id: job.id });
    await sleep(20);
  }

  it("asks the server when the list's last point ends, and tells its state once", async () => {
    // Given the server's sweep has more points than the list (it is still running)
    server.sweep = answer('running', { total: 3, running: 1 });
    // When the last listed point ends
    await ends(point('2', 1, 'failed'));
    // Then the server was asked, and nothing is told: the sweep goes on
    expect(sweepGets()).toBe(1);
    expect(warning).not.toHaveBeenCalled();
    expect(success).not.toHaveBeenCalled();
    // When its last point (not listed before) ends: the server says failed, with its counts
    server.sweep = answer('failed', { total: 3, completed: 2 });
    await ends(point('3', 2, 'completed'));
    expect(sweepGets()).toBe(2);
    expect(warning).toHaveBeenCalledTimes(1);
    expect(warning.mock.calls[0][0]).toBe(
      'Sweep "train" ended: 2 of 3 done, 1 failed.'
    );
    // and the same end is not told twice (another attempt of a point, seen ended)
    await ends(point('4', 2, 'completed'));
    expect(sweepGets()).toBe(3);
    expect(warning).toHaveBeenCalledTimes(1);
  });

  it('tells a completed sweep as a success', async () => {
    server.sweep = answer('completed', { completed: 2, failed: 0 });
    await ends(point('2', 1, 'completed'));
    expect(success).toHaveBeenCalledWith(
      'Sweep "train" ended: 2 of 2 done.',
      expect.anything()
    );
  });

  it('tells nothing of a sweep the user cancelled, which its row then says', async () => {
    server.sweep = answer('cancelled', { failed: 0, cancelled: 1 });
    await ends(point('2', 1, 'cancelled'));
    expect(sweepGets()).toBe(1);
    expect(warning).not.toHaveBeenCalled();
    expect(success).not.toHaveBeenCalled();
    expect(knownSweeps.get('S')?.state).toBe('cancelled');
  });
});

describe('sweeps the page has not heard of', () => {
  it('are asked once with GET sweeps, for their names and states', async () => {
    const jobs = [
      makeJob('2', {
        state: 'completed',
        name: 'train (lr=0.02)',
        sweep: { id: 'Q', point: 1 }
      }),
      makeJob('1', {
        state: 'completed',
        name: 'train (lr=0.01)',
        sweep: { id: 'Q', point: 0 }
      })
    ];
    requestAPI.mockReset();
    requestAPI.mockImplementation(async (path: string) => {
      if (path.startsWith('jobs?')) {
        return { jobs, total: 2, next_page_token: null };
      }
      if (path === 'sweeps?limit=100') {
        return {
          sweeps: [makeSweep({ id: 'Q', name: 'lr scan', state: 'completed' })]
        };
      }
      throw new Error(`unexpected ${path}`);
    });
    const model = new JobsModel();
    const known = new KnownSweeps();
    const stop = learnSweeps(model, new SweepAPI(undefined, known), 10);
    await model.refresh();
    await model.refresh();
    await until(() => !!known.get('Q'));
    await sleep(30);
    expect(
      requestAPI.mock.calls.filter(c => c[0] === 'sweeps?limit=100')
    ).toHaveLength(1);
    const [item] = groupSweeps(model.jobs, known);
    expect(item.kind === 'sweep' && item.sweep.name).toBe('lr scan');
    // known now: a later change asks nothing more
    await model.refresh();
    await sleep(30);
    expect(
      requestAPI.mock.calls.filter(c => c[0].startsWith('sweeps'))
    ).toHaveLength(1);
    stop();
    model.dispose();
  });
});
