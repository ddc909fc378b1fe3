import { Widget } from '@lumino/widgets';

import { makeBackends, makeJob } from './fixtures';
import { requestAPI, sleep, until } from './spark-fixtures';
import { makeSweep } from './sweep-fixtures';
import { IParam } from '../params';
import { JobsModel } from '../model';
import { JobMonitor } from '../monitor/panel';
import { SubmitDialog, SubmitForm } from '../submit/dialog';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const PARAMS: IParam[] = [
  { name: 'lr', type: 'float', text: '0.01' },
  { name: 'seed', type: 'int', text: '1' }
];
/** No pool fit, no GPU lookup: these specs are about what is submitted where. */
const NO_FIT = { check: null, gpu: null };

async function rendered(w: Widget): Promise<HTMLElement> {
  if (!w.isAttached && !w.parent) {
    Widget.attach(w, document.body);
  }
  w.update();
  await sleep(50);
  return w.node;
}

async function enter(
  el: HTMLInputElement | HTMLSelectElement,
  value: string
): Promise<void> {
  const proto = Object.getPrototypeOf(el);
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(
    new Event(el instanceof HTMLSelectElement ? 'change' : 'input', {
      bubbles: true
    })
  );
  await sleep(20);
}

function field<T extends Element = HTMLInputElement>(
  node: HTMLElement,
  label: string
): T {
  const el = node.querySelector(`[aria-label="${label}"]`);
  if (!el) {
    throw new Error(`no field labelled ${label}`);
  }
  return el as T;
}

describe('the dialog with a Sweep section', () => {
  let model: JobsModel;
  beforeEach(() => {
    requestAPI.mockReset();
    model = new JobsModel();
  });
  afterEach(() => model.dispose());

  async function open(): Promise<{
    form: SubmitForm;
    dialog: SubmitDialog;
    node: HTMLElement;
    result: Promise<any>;
  }> {
    const form = new SubmitForm('ana/train.ipynb', makeBackends(), PARAMS, {});
    form.variables = ['val_loss', 'accuracy'];
    const dialog = new SubmitDialog(form, model, NO_FIT);
    const result = dialog.launch();
    const node = await rendered(form);
    return { form, dialog, node, result };
  }

  it('submits a sweep to POST sweeps when a parameter is swept', async () => {
    // Given lr swept over a list, seed over a range, val_loss collected
    const { dialog, node, result } = await open();
    (
      node.querySelector(
        '[data-testid="sweep-section"] button[aria-expanded]'
      ) as HTMLButtonElement
    ).click();
    await sleep(30);
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
    (
      node.querySelector(
        '[data-testid="sweep-section"] button[aria-expanded]'
      ) as HTMLButtonElement
    ).click();
    await sleep(30);
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
    const { dialog, node, result } = await open();
    result.catch(() => undefined); // disposed below: the launch promise rejects
    (
      node.querySelector(
        '[data-testid="sweep-section"] button[aria-expanded]'
      ) as HTMLButtonElement
    ).click();
    await sleep(30);
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
    const point = (id: string, p: number, state: string) =>
      makeJob(id, {
        state,
        name: `train (lr=0.0${p})`,
        sweep: { id: 'S', point: p }
      } as any);
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
    const monitor = new JobMonitor(model, {
      open: jest.fn(),
      resubmit: jest.fn(),
      notify: jest.fn(),
      openSweep
    });
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
