import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  FakeSparkServer,
  makeSession,
  makeSparkJob,
  requestAPI,
  runningJobs,
  sleep,
  until
} from './spark-fixtures';
import { enter } from './testutils';
import { SparkModel } from '../spark/model';
import { IActiveNotebook, ISparkNotebooks, labelOf } from '../spark/notebooks';
import { SparkPanel } from '../spark/panel';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

/** Open notebooks as the panel sees them: one notebook, kernel-s1, with two cells. */
class FakeNotebooks implements ISparkNotebooks {
  changed = new Signal<this, void>(this);
  current: IActiveNotebook | null = {
    path: 'work/etl.ipynb',
    kernelId: 'kernel-s1'
  };
  active() {
    return this.current;
  }
  pathOfKernel(kernelId: string) {
    return kernelId === 'kernel-s1' ? 'work/etl.ipynb' : null;
  }
  cellLabel(kernelId: string, cellId: string) {
    return kernelId === 'kernel-s1' && cellId === 'cell-a'
      ? labelOf(3, 'df = spark.range(10**8)\ndf.count()')
      : null;
  }
}

function q(node: HTMLElement, testid: string): HTMLElement[] {
  return Array.from(node.querySelectorAll(`[data-testid="${testid}"]`));
}

/** The Connect box has its profiles (Connect stays disabled until then). */
async function profilesShown(node: HTMLElement): Promise<void> {
  await until(
    () =>
      (q(node, 'spark-profile')[0] as HTMLSelectElement | undefined)?.options
        .length === 2
  );
}

let server: FakeSparkServer;
let model: SparkModel;
let notebooks: FakeNotebooks;
let panel: SparkPanel;
const openUI = jest.fn();

async function show(): Promise<HTMLElement> {
  panel = new SparkPanel(model, notebooks, { openUI });
  Widget.attach(panel, document.body);
  panel.update();
  await sleep(50);
  return panel.node;
}

beforeEach(async () => {
  server = new FakeSparkServer();
  requestAPI.mockReset();
  requestAPI.mockImplementation(server.handle);
  notebooks = new FakeNotebooks();
  model = new SparkModel({ slowInterval: 100000 });
});

afterEach(() => {
  panel.dispose();
  model.dispose();
  openUI.mockReset();
});

describe('SparkPanel', () => {
  it('shows sessions and their jobs grouped by cell with task progress', async () => {
    // Given a running classic session of the open notebook and an ended Connect one
    server.sessions = [
      makeSession('s1', {
        summary: {
          jobs_running: 1,
          jobs_total: 4,
          tasks_total: 22,
          tasks_done: 15,
          tasks_active: 2
        }
      }),
      makeSession('s2', {
        kind: 'connect',
        profile: 'connect',
        state: 'ended',
        kernel_id: 'kernel-gone'
      })
    ];
    server.jobs = { s1: runningJobs() };
    await model.refresh();
    // When the panel shows
    const node = await show();
    await until(() => q(node, 'spark-session').length === 1);
    // Then the active session is listed, the ended one behind a toggle
    expect(q(node, 'spark-session').map(s => s.dataset.sessionId)).toEqual([
      's1'
    ]);
    q(node, 'spark-toggle-ended')[0].click();
    await until(() => q(node, 'spark-session').length === 2);
    await until(() => q(node, 'spark-cell-group').length === 3);
    // and then both, the active first, with where they run
    const sessions = q(node, 'spark-session');
    expect(sessions.map(s => [s.dataset.sessionId, s.dataset.state])).toEqual([
      ['s1', 'active'],
      ['s2', 'ended']
    ]);
    expect(q(node, 'spark-session-origin').map(o => o.textContent)).toEqual([
      'work/etl.ipynb',
      'kernel kernel-g'
    ]);
    expect(sessions[1].textContent).toContain('Connect');
    // and the active session's jobs by cell: the open cell by count and first line
    const groups = q(sessions[0], 'spark-cell-group');
    expect(groups.map(g => [g.dataset.cellId, g.dataset.state])).toEqual([
      ['', 'done'],
      ['cell-b', 'failed'],
      ['cell-a', 'running']
    ]);
    expect(groups[2].querySelector('h4')!.textContent).toContain(
      '[3] df = spark.range(10**8)'
    );
    expect(groups[1].querySelector('h4')!.textContent).toContain('cell cell-b');
    const job1 = groups[2].querySelector('[data-job-id="1"]') as HTMLElement;
    expect(job1.dataset.status).toBe('RUNNING');
    const bar = job1.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('30');
    expect(job1.textContent).toContain('3/10 · 2 active');
    // a Kill button only on the running job
    expect(
      q(node, 'spark-kill').map(b => b.getAttribute('aria-label'))
    ).toEqual(['Kill job 1']);
    // the ended session's jobs are not loaded
    expect(server.paths()).not.toContain('spark/sessions/s2/jobs');
  });

  it('kills a job, stops a session and opens its Spark UI', async () => {
    server.sessions = [makeSession('s1')];
    server.jobs = { s1: [makeSparkJob(7, { status: 'RUNNING' })] };
    await model.refresh();
    const node = await show();
    await until(() => q(node, 'spark-kill').length === 1);
    // When the user kills job 7
    q(node, 'spark-kill')[0].click();
    await until(() => server.paths('POST').length === 1);
    // Then the server is asked to kill it
    expect(server.calls).toContainEqual({
      path: 'spark/sessions/s1/jobs/7/kill',
      method: 'POST',
      body: undefined
    });
    // When the user opens the Spark UI, then stops the session
    q(node, 'spark-open-ui')[0].click();
    expect(openUI).toHaveBeenCalledWith(expect.objectContaining({ id: 's1' }));
    q(node, 'spark-stop')[0].click();
    await until(() => server.paths('DELETE').length === 1);
    expect(server.calls).toContainEqual({
      path: 'spark/sessions/s1',
      method: 'DELETE',
      body: undefined
    });
  });

  it('shows stages and executors (with GPU addresses) only when opened', async () => {
    server.sessions = [makeSession('s1')];
    await model.refresh();
    const node = await show();
    expect(q(node, 'spark-executors')).toEqual([]);
    q(node, 'spark-toggle-executors')[0].click();
    q(node, 'spark-toggle-stages')[0].click();
    await until(() => q(node, 'spark-executor').length === 1);
    await until(() => q(node, 'spark-stage').length === 1);
    expect(server.paths()).toEqual(
      expect.arrayContaining([
        'spark/sessions/s1/stages',
        'spark/sessions/s1/executors'
      ])
    );
    expect(q(node, 'spark-executor-resources')[0].textContent).toBe('gpu 0,1');
    expect(q(node, 'spark-executor')[0].textContent).toContain('512 MiB');
    expect(q(node, 'spark-stage')[0].textContent).toContain(
      'count at <cell>:1'
    );
  });

  it('watches nothing while the panel is hidden', async () => {
    server.sessions = [makeSession('s1')];
    await model.refresh();
    await show();
    await until(() => model.watchedParts('s1').join() === 'jobs');
    // When the sidebar is collapsed: no session detail is kept current for it
    panel.hide();
    await until(() => model.watchedParts('s1').length === 0);
    // When it is shown again
    panel.show();
    await until(() => model.watchedParts('s1').join() === 'jobs');
  });

  it('connects the active notebook with a profile and extra conf', async () => {
    await model.refresh();
    notebooks.current = { path: 'new.ipynb', kernelId: 'k-9' };
    const node = await show();
    await profilesShown(node);
    // The profiles are offered with their kind, the default chosen
    const select = q(node, 'spark-profile')[0] as HTMLSelectElement;
    expect(Array.from(select.options).map(o => o.textContent)).toEqual([
      'local (classic)',
      'connect (Connect)'
    ]);
    expect(select.value).toBe('local');
    // When the user picks Connect, adds conf and connects
    await enter(select, 'connect');
    await enter(
      q(node, 'spark-conf')[0] as HTMLTextAreaElement,
      'spark.sql.shuffle.partitions=2'
    );
    q(node, 'spark-connect-button')[0].click();
    await until(() => server.paths('POST').length === 1);
    // Then the server gets the kernel, the profile and the conf
    expect(server.calls).toContainEqual({
      path: 'spark/sessions',
      method: 'POST',
      body: {
        kernel_id: 'k-9',
        profile: 'connect',
        conf: { 'spark.sql.shuffle.partitions': '2' }
      }
    });
    expect(q(node, 'spark-connect-error')).toEqual([]);
  });

  it('shows the server’s refusal inline', async () => {
    await model.refresh();
    notebooks.current = { path: 'new.ipynb', kernelId: 'k-9' };
    server.failures['POST spark/sessions'] = new Error(
      "profile 'local': spark.task.resource.gpu.amount needs GPUs, plain local[N] has none"
    );
    const node = await show();
    await profilesShown(node);
    q(node, 'spark-connect-button')[0].click();
    await until(() => q(node, 'spark-connect-error').length === 1);
    const error = q(node, 'spark-connect-error')[0];
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe(
      "profile 'local': spark.task.resource.gpu.amount needs GPUs, plain local[N] has none"
    );
    // and a malformed conf line is refused before asking the server
    server.calls = [];
    await enter(q(node, 'spark-conf')[0] as HTMLTextAreaElement, 'oops');
    q(node, 'spark-connect-button')[0].click();
    await until(() =>
      (q(node, 'spark-connect-error')[0]?.textContent ?? '').includes('line 1')
    );
    expect(q(node, 'spark-connect-error')[0].textContent).toContain(
      'line 1: expected key=value'
    );
    expect(server.paths('POST')).toEqual([]);
  });

  it('says why Connect is not offered', async () => {
    server.sessions = [makeSession('s1')];
    await model.refresh();
    const node = await show();
    // the active notebook's kernel is connected already
    expect(q(node, 'spark-connect-reason')[0].textContent).toBe(
      'This notebook is connected (profile local).'
    );
    expect(q(node, 'spark-connect-button')).toEqual([]);
    // no kernel / no notebook
    notebooks.current = { path: 'a.ipynb', kernelId: null };
    notebooks.changed.emit();
    await until(() =>
      (q(node, 'spark-connect-reason')[0]?.textContent ?? '').includes(
        'no running kernel'
      )
    );
    expect(q(node, 'spark-connect-reason')[0].textContent).toContain(
      'no running kernel'
    );
    notebooks.current = null;
    notebooks.changed.emit();
    await until(() =>
      (q(node, 'spark-connect-reason')[0]?.textContent ?? '').startsWith(
        'Open a notebook'
      )
    );
    expect(q(node, 'spark-connect-reason')[0].textContent).toBe(
      'Open a notebook to connect it to Spark.'
    );
  });
});
