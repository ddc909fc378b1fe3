import { Widget } from '@lumino/widgets';

import { IJobCheck, IJobRequest } from '../api';
import type { IGpuStatus } from '../gpu/api';
import { JobsModel } from '../model';
import { JobMonitor } from '../monitor/panel';
import { FitChecker } from '../submit/check';
import { SubmitDialog, SubmitForm } from '../submit/dialog';
import {
  describeGpuType,
  fieldChoices,
  kernelPeak,
  suggestedMb
} from '../submit/gpuFit';
import { makeGpuBackends, makeJob } from './fixtures';

const requestAPI = jest.fn();
jest.mock('../api', () => ({
  ...jest.requireActual('../api'),
  requestAPI: (...args: any[]) => requestAPI(...args)
}));

const GiB = 2 ** 30;
const BACKENDS = makeGpuBackends();

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function rendered(w: Widget): Promise<HTMLElement> {
  if (!w.isAttached && !w.parent) {
    Widget.attach(w, document.body);
  }
  w.update();
  await sleep(50);
  return w.node;
}

/** Type into an input (or choose in a select) as a user does: React sees the event. */
async function enter(
  el: HTMLInputElement | HTMLSelectElement,
  value: string
): Promise<void> {
  const proto =
    el instanceof HTMLSelectElement
      ? HTMLSelectElement.prototype
      : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(
    new Event(el instanceof HTMLSelectElement ? 'change' : 'input', {
      bubbles: true
    })
  );
  await sleep(20);
}

function field(node: HTMLElement, label: string): HTMLInputElement {
  const el = node.querySelector(`[aria-label="${label}"]`);
  if (!el) {
    throw new Error(`no field labelled ${label}`);
  }
  return el as HTMLInputElement;
}

function modelSelect(node: HTMLElement): HTMLSelectElement {
  return node.querySelector('#swan-resources_gpu_model') as HTMLSelectElement;
}

/** A 4xx as requestAPI throws it (ServerConnection.ResponseError). */
function refusal(status: number, message: string): Error {
  return Object.assign(new Error(message), { response: { status } });
}

const REQUEST: IJobRequest = { notebook: 'a.ipynb', backend: 'condor' };
const FITS: IJobCheck = {
  feasible: true,
  message: '3 GPUs match (2 free now)',
  reasons: [],
  matching: { slots: 1, gpus: 3, gpus_free: 2 },
  warnings: []
};

describe('FitChecker', () => {
  it('asks once the typing pauses, for the latest values only', async () => {
    const check = jest.fn().mockResolvedValue(FITS);
    const fit = new FitChecker(check, 20);
    // When the values change three times in a row
    fit.schedule({ ...REQUEST, name: 'a' });
    fit.schedule({ ...REQUEST, name: 'ab' });
    fit.schedule({ ...REQUEST, name: 'abc' });
    // Then nothing is asked yet, and an answer is on its way
    expect(check).not.toHaveBeenCalled();
    expect(fit.state.busy).toBe(true);
    await sleep(150);
    // and once they pause, one question for the last values
    expect(check).toHaveBeenCalledTimes(1);
    expect(check.mock.calls[0][0].name).toBe('abc');
    expect(fit.state).toEqual({ answer: FITS, refused: '', busy: false });
    expect(fit.infeasible).toBe(false);
    fit.dispose();
  });

  it('drops an answer to older values that comes late', async () => {
    const answers: ((a: IJobCheck) => void)[] = [];
    const fit = new FitChecker(
      () => new Promise<IJobCheck>(resolve => answers.push(resolve)),
      0
    );
    fit.schedule({ ...REQUEST, resources: { gpus: 4 } });
    await sleep(10);
    fit.schedule({ ...REQUEST, resources: { gpus: 1 } });
    await sleep(10);
    expect(answers).toHaveLength(2);
    // When the newer answer comes first, then the older one
    answers[1](FITS);
    await sleep(0);
    answers[0]({ ...FITS, feasible: false, message: 'no machine has 4 GPUs' });
    await sleep(0);
    // Then the newer one stays
    expect(fit.state.answer).toEqual(FITS);
    expect(fit.infeasible).toBe(false);
    fit.dispose();
  });

  it('shows a refusal, and nothing where the server cannot check', async () => {
    const check = jest.fn();
    const fit = new FitChecker(check, 0);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    // A 4xx: the server would refuse the job; its message is shown
    check.mockRejectedValueOnce(refusal(400, "'gpu_model' must match"));
    fit.schedule(REQUEST);
    await sleep(10);
    expect(fit.state).toEqual({
      answer: null,
      refused: "'gpu_model' must match",
      busy: false
    });
    // A server without the route (404) or not reachable: nothing is shown
    for (const reason of [refusal(404, 'Not Found'), new Error('offline')]) {
      check.mockRejectedValueOnce(reason);
      fit.schedule(REQUEST);
      await sleep(10);
      expect(fit.state).toEqual({ answer: null, refused: '', busy: false });
    }
    // Values the form finds invalid: nothing asked, nothing shown
    check.mockResolvedValueOnce(FITS);
    fit.schedule(REQUEST);
    fit.schedule(null);
    await sleep(10);
    expect(check).toHaveBeenCalledTimes(3);
    expect(fit.state).toEqual({ answer: null, refused: '', busy: false });
    warn.mockRestore();
    fit.dispose();
  });
});

describe('GPU fit helpers', () => {
  it('describes each GPU model of the pool', () => {
    const [v100, a100] = BACKENDS.backends[0].resources.gpu_types as any[];
    expect(describeGpuType(v100)).toBe('1 of 1 free · 16 GB · cc 7.0');
    expect(describeGpuType(a100)).toBe('1 of 2 free · 40 GB · cc 8.0');
    expect(
      describeGpuType({ name: 'T4', total: 4, free: 0, memory_mb: 15360 })
    ).toBe('0 of 4 free · 15 GB');
    expect(describeGpuType({ name: 'A100' })).toBe('');
  });

  it('takes a field’s options from what its backend publishes', () => {
    expect(fieldChoices(BACKENDS.backends[0])).toEqual({
      gpu_model: ['Tesla V100-PCIE-16GB', 'A100-SXM4-40GB']
    });
    // a backend that publishes none: the field has no options but "any"
    const bare = { ...BACKENDS.backends[0], resources: {} };
    expect(fieldChoices(bare)).toEqual({ gpu_model: [] });
    expect(fieldChoices(BACKENDS.backends[1])).toEqual({});
  });

  it('suggests the peak plus 10%, rounded up to whole GB', () => {
    expect(suggestedMb(3.2 * GiB)).toBe(4096);
    expect(suggestedMb(1 * GiB)).toBe(2048);
    expect(suggestedMb(0.5 * GiB)).toBe(1024);
    expect(suggestedMb(36 * GiB)).toBe(40960);
  });

  it('finds the notebook kernel’s peak by kernel id, else by path', () => {
    const status = gpuStatus();
    expect(kernelPeak(status, 'a.ipynb', ['k-a'])).toBe(3.2 * GiB);
    expect(kernelPeak(status, 'a.ipynb', ['k-other'])).toBe(30 * GiB);
    expect(kernelPeak(status, 'other.ipynb', [])).toBe(30 * GiB);
    expect(kernelPeak(status, 'idle.ipynb', [])).toBeNull();
    expect(kernelPeak(status, 'new.ipynb', [])).toBeNull();
    expect(
      kernelPeak({ ...status, available: false }, 'a.ipynb', ['k-a'])
    ).toBeNull();
    expect(kernelPeak(null, 'a.ipynb', ['k-a'])).toBeNull();
  });
});

function gpuStatus(): IGpuStatus {
  const kernel = (id: string, notebook: string, peak: number) => ({
    kernel_id: id,
    notebook,
    memory_used_bytes: 0,
    peak_memory_bytes: peak,
    pids: [1],
    devices: []
  });
  return {
    available: true,
    reason: null,
    sampled_at: '2026-12-01T00:00:00Z',
    driver_version: '560.1',
    devices: [],
    kernels: [
      kernel('k-a', 'a.ipynb', 3.2 * GiB),
      kernel('k-other', 'other.ipynb', 30 * GiB),
      kernel('k-idle', 'idle.ipynb', 0)
    ]
  };
}

/** The pool's answers, like the server's for the personal pool (one V100, two A100s). */
async function poolCheck(path: string, init: RequestInit): Promise<unknown> {
  if (path !== 'jobs/check') {
    throw new Error(`unexpected ${path}`);
  }
  const { resources = {}, parameters = {} } = JSON.parse(String(init.body));
  const warnings =
    'lr2' in parameters
      ? ["parameter 'lr2' is not in the notebook's parameters cell"]
      : [];
  if ((resources.gpus ?? 0) > 3) {
    const reason = `no machine has ${resources.gpus} GPUs; the largest has 3`;
    return {
      feasible: false,
      message: reason,
      reasons: [reason],
      matching: { slots: 0, gpus: 0, gpus_free: 0 },
      warnings
    };
  }
  if (resources.gpu_model === 'A100-SXM4-40GB') {
    return {
      feasible: true,
      message: '2 GPUs match (1 free now)',
      reasons: [],
      matching: { slots: 1, gpus: 2, gpus_free: 1 },
      warnings
    };
  }
  return { ...FITS, warnings };
}

describe('The dialog’s pool fit', () => {
  beforeAll(() => {
    SubmitForm.checkDelay = 80;
  });
  afterAll(() => {
    SubmitForm.checkDelay = 400;
  });
  afterEach(() => requestAPI.mockReset());

  async function opened(
    options: SubmitDialog.IOptions = { gpu: null },
    resources = {}
  ): Promise<{
    form: SubmitForm;
    dialog: SubmitDialog;
    model: JobsModel;
    node: HTMLElement;
  }> {
    const model = new JobsModel();
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'lr', type: 'float', text: '0.1' }],
      { resources }
    );
    const dialog = new SubmitDialog(form, model, options);
    void dialog.launch().catch(() => undefined); // disposed at the end: rejected
    const node = await rendered(form);
    return { form, dialog, model, node };
  }

  function submitLabel(dialog: SubmitDialog): string {
    return (
      dialog.node.querySelector(
        '.jp-Dialog-button.jp-mod-accept .jp-Dialog-buttonLabel'
      )?.textContent ?? ''
    );
  }

  function fitBox(node: HTMLElement): HTMLElement {
    return node.querySelector('[aria-label="Pool fit"]') as HTMLElement;
  }

  function checks(): IJobRequest[] {
    return requestAPI.mock.calls
      .filter(c => c[0] === 'jobs/check')
      .map(c => JSON.parse(c[1].body));
  }

  it('shows the pool’s GPUs per model next to the GPU fields', async () => {
    requestAPI.mockImplementation(poolCheck);
    const { dialog, model, node } = await opened();
    const pool = node.querySelector('.jp-SwanML-gpuPool') as HTMLElement;
    expect(pool.textContent).toContain('2 of 3 GPUs free in the pool');
    const models = Array.from(
      pool.querySelectorAll('[aria-label="Pool GPUs by model"] li')
    ).map(li => li.textContent);
    expect(models).toEqual([
      'Tesla V100-PCIE-16GB1 of 1 free · 16 GB · cc 7.0',
      'A100-SXM4-40GB1 of 2 free · 40 GB · cc 8.0'
    ]);
    // in the resources box, right after the GPU fields
    expect(pool.closest('.jp-SwanML-resources')).not.toBeNull();
    dialog.dispose();
    model.dispose();
  });

  it('offers the pool’s GPU models, or any', async () => {
    requestAPI.mockImplementation(poolCheck);
    const { form, dialog, model, node } = await opened();
    const select = modelSelect(node);
    expect(
      node.querySelector('label[for="swan-resources_gpu_model"]')?.textContent
    ).toBe('GPU model');
    expect(Array.from(select.options).map(o => [o.value, o.text])).toEqual([
      ['', 'any'],
      ['0', 'Tesla V100-PCIE-16GB'],
      ['1', 'A100-SXM4-40GB']
    ]);
    expect(select.selectedOptions[0].text).toBe('any');
    // When a model is picked (with a GPU), the request names it
    await enter(field(node, 'GPUs'), '1');
    await enter(select, '1');
    expect(form.check()?.resources).toEqual({
      cpus: 1,
      memory_mb: 2048,
      gpus: 1,
      gpu_model: 'A100-SXM4-40GB'
    });
    // and "any" leaves it out (null: any model)
    await enter(select, '');
    expect(form.check()?.resources).not.toHaveProperty('gpu_model');
    dialog.dispose();
    model.dispose();
  });

  it('keeps a resubmitted job’s model that the pool no longer has', async () => {
    requestAPI.mockImplementation(poolCheck);
    const { form, dialog, model, node } = await opened(
      { gpu: null },
      { gpus: 1, gpu_model: 'H100' }
    );
    const select = modelSelect(node);
    expect(select.selectedOptions[0].text).toBe('H100 (not in the pool now)');
    expect(form.check()?.resources).toMatchObject({ gpu_model: 'H100' });
    dialog.dispose();
    model.dispose();
  });

  it('checks as the user edits: infeasible says why and Submit reads "Submit anyway"', async () => {
    requestAPI.mockImplementation(poolCheck);
    const { dialog, model, node } = await opened();
    await sleep(150);
    // Given the opened dialog: its values were checked once
    expect(checks()).toEqual([
      {
        notebook: 'a.ipynb',
        backend: 'condor',
        environment: 'default',
        parameters: { lr: 0.1 },
        resources: { cpus: 1, memory_mb: 2048, gpus: 0 }
      }
    ]);
    expect(fitBox(node).textContent).toBe('3 GPUs match (2 free now)');
    expect(submitLabel(dialog)).toBe('Submit');
    // When the user types 4 GPUs (two keystrokes within the pause)
    await enter(field(node, 'GPUs'), '');
    await enter(field(node, 'GPUs'), '4');
    await sleep(150);
    // Then one more check, for 4 GPUs, and the box says why no machine fits, as a warning
    expect(checks().map(c => c.resources?.gpus)).toEqual([0, 4]);
    const box = fitBox(node);
    expect(box.classList).toContain('jp-mod-infeasible');
    expect(box.textContent).toBe(
      'No machine in the pool can run this job as asked:' +
        'no machine has 4 GPUs; the largest has 3'
    );
    // and Submit stays enabled but says "anyway", in warning style
    const accept = dialog.node.querySelector(
      '.jp-Dialog-button.jp-mod-accept'
    ) as HTMLButtonElement;
    expect(submitLabel(dialog)).toBe('Submit anyway');
    expect(accept.classList).toContain('jp-mod-warn');
    expect(accept.disabled).toBe(false);
    // When the user asks for one A100 instead
    await enter(field(node, 'GPUs'), '1');
    await enter(modelSelect(node), '1');
    await sleep(150);
    // Then the box says what will happen, and Submit is itself again
    expect(checks().pop()?.resources).toEqual({
      cpus: 1,
      memory_mb: 2048,
      gpus: 1,
      gpu_model: 'A100-SXM4-40GB'
    });
    expect(fitBox(node).textContent).toBe('2 GPUs match (1 free now)');
    expect(fitBox(node).classList).not.toContain('jp-mod-infeasible');
    expect(submitLabel(dialog)).toBe('Submit');
    expect(accept.classList).not.toContain('jp-mod-warn');
    dialog.dispose();
    model.dispose();
  });

  it('shows warnings, asks nothing for invalid values, and still submits an infeasible job', async () => {
    requestAPI.mockImplementation(poolCheck);
    const { dialog, model, node } = await opened();
    await sleep(150);
    const before = checks().length;
    // Invalid values: no check, nothing shown
    await enter(field(node, 'CPUs'), '0');
    await sleep(150);
    expect(checks()).toHaveLength(before);
    expect(fitBox(node).classList).toContain('jp-mod-empty');
    await enter(field(node, 'CPUs'), '1');
    // An infeasible job
    await enter(field(node, 'GPUs'), '5');
    await sleep(150);
    expect(submitLabel(dialog)).toBe('Submit anyway');
    // When Submit anyway is pressed, the job is submitted as asked
    requestAPI.mockImplementation(async (path: string, init: RequestInit) =>
      path === 'jobs'
        ? makeJob('9', { state: 'pending' })
        : poolCheck(path, init)
    );
    const result = dialog.launch();
    dialog.resolve(1);
    expect((await result).button.accept).toBe(true);
    const submitted = requestAPI.mock.calls.find(c => c[0] === 'jobs');
    expect(JSON.parse(submitted![1].body).resources.gpus).toBe(5);
    model.dispose();
  });

  it('says what the server would refuse, and nothing when it cannot check', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    requestAPI.mockRejectedValue(refusal(404, 'Not Found'));
    const { dialog, model, node } = await opened();
    await sleep(150);
    expect(fitBox(node).classList).toContain('jp-mod-empty');
    expect(submitLabel(dialog)).toBe('Submit');
    requestAPI.mockRejectedValue(
      refusal(
        400,
        'GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1'
      )
    );
    await enter(field(node, 'Minimum GPU capability'), '8');
    await sleep(150);
    expect(fitBox(node).textContent).toBe(
      'The server would refuse this job: GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1'
    );
    expect(fitBox(node).classList).toContain('jp-mod-refused');
    warn.mockRestore();
    dialog.dispose();
    model.dispose();
  });
});

describe('The suggested GPU memory', () => {
  beforeAll(() => {
    SubmitForm.checkDelay = 80;
  });
  afterEach(() => requestAPI.mockReset());

  async function opened(
    gpu: SubmitDialog.IOptions['gpu']
  ): Promise<{ form: SubmitForm; dialog: SubmitDialog; node: HTMLElement }> {
    requestAPI.mockImplementation(poolCheck);
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {});
    const dialog = new SubmitDialog(form, new JobsModel(), { gpu });
    void dialog.launch().catch(() => undefined);
    await rendered(form);
    const node = await rendered(form);
    return { form, dialog, node };
  }

  function suggestButton(node: HTMLElement): HTMLButtonElement | undefined {
    return Array.from(node.querySelectorAll('button')).find(b =>
      b.textContent?.startsWith('Use ')
    );
  }

  it('pre-fills GPU memory from this kernel’s peak, asking for a GPU', async () => {
    // Given a session whose notebook kernel peaked at 3.2 GB (another kernel at 30 GB)
    const lookup = jest
      .fn()
      .mockResolvedValue({ status: gpuStatus(), kernelIds: ['k-a'] });
    const { form, dialog, node } = await opened(lookup);
    // Then the dialog offers 4 GB (10% headroom, whole GB)
    const button = suggestButton(node);
    expect(button?.textContent).toBe("Use 4096 MB (this kernel's peak)");
    // When it is pressed
    button!.click();
    const after = await rendered(form);
    await sleep(150);
    // Then the field has it, a GPU is asked for, and the check follows
    expect(field(after, 'Minimum GPU memory (MB)').value).toBe('4096');
    expect(field(after, 'GPUs').value).toBe('1');
    expect(form.check()?.resources).toMatchObject({
      gpus: 1,
      gpu_memory_mb: 4096
    });
    const last = requestAPI.mock.calls.filter(c => c[0] === 'jobs/check').pop();
    expect(JSON.parse(last![1].body).resources).toMatchObject({
      gpus: 1,
      gpu_memory_mb: 4096
    });
    // and the offer goes while the field holds it
    expect(suggestButton(after)).toBeUndefined();
    expect(lookup).toHaveBeenCalledTimes(1);
    dialog.dispose();
  });

  it('is not offered without a GPU, without a peak, or when the lookup fails', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    for (const lookup of [
      async () => ({
        status: { ...gpuStatus(), available: false, kernels: [] },
        kernelIds: []
      }),
      async () => ({ status: gpuStatus(), kernelIds: ['k-idle'] }),
      async () => {
        throw new Error('offline');
      }
    ]) {
      const { dialog, node } = await opened(lookup);
      expect(suggestButton(node)).toBeUndefined();
      expect(node.textContent).not.toContain("this kernel's peak");
      dialog.dispose();
    }
    warn.mockRestore();
  });

  it('reads GET gpu by default, matching the notebook’s path', async () => {
    requestAPI.mockImplementation(async (path: string, init: RequestInit) =>
      path === 'gpu' ? gpuStatus() : poolCheck(path, init)
    );
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {});
    const dialog = new SubmitDialog(form, new JobsModel());
    void dialog.launch().catch(() => undefined);
    await rendered(form);
    await sleep(50);
    const node = await rendered(form);
    expect(requestAPI.mock.calls.map(c => c[0])).toContain('gpu');
    expect(suggestButton(node)?.textContent).toBe(
      "Use 4096 MB (this kernel's peak)"
    );
    dialog.dispose();
  });
});

describe('A waiting job’s row', () => {
  afterEach(() => requestAPI.mockReset());

  it('says why a pending or held job waits', async () => {
    const jobs = [
      makeJob('3', {
        state: 'pending',
        message:
          'waiting: no machine has 4 GPUs; the largest has 3 — cancel and resubmit with fewer'
      }),
      makeJob('2', {
        state: 'held',
        message:
          'held: the job exceeded its memory — fix and Release, or Cancel'
      }),
      makeJob('1', { state: 'running', message: 'running on slot1@node' })
    ];
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'backends') {
        return BACKENDS;
      }
      return { jobs, total: jobs.length, next_page_token: null };
    });
    const model = new JobsModel();
    await model.loadBackends();
    await model.refresh();
    const monitor = new JobMonitor(model, {
      open: jest.fn(),
      resubmit: jest.fn(),
      notify: jest.fn()
    });
    const node = await rendered(monitor);
    const row = (name: string) =>
      node.querySelector(`li[aria-label^="${name} "]`) as HTMLElement;
    const message = (name: string) =>
      row(name).querySelector('.jp-SwanML-row-message');
    expect(message('job 3')?.textContent).toBe(jobs[0].message);
    expect(message('job 3')?.classList).toContain('jp-mod-pending');
    expect(message('job 2')?.textContent).toBe(jobs[1].message);
    expect(message('job 2')?.classList).toContain('jp-mod-held');
    // the whole reason on hover, however narrow the sidebar
    expect(row('job 3').querySelector('button')?.title).toBe(jobs[0].message);
    // a running job shows its progress instead
    expect(message('job 1')).toBeNull();
    monitor.dispose();
    model.dispose();
  });
});
