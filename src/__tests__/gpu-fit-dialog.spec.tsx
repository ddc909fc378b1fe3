import { ServerConnection } from '@jupyterlab/services';

import { JobsModel } from '../model';
import { SubmitDialog, SubmitForm } from '../submit/dialog';
import { makeGpuBackends, makeJob } from './fixtures';
import { gpuStatus, modelSelect, poolCheck, refusal } from './gpu-fit-fixtures';
import { requestAPI, sleep } from './spark-fixtures';
import { enter, field, rendered } from './testutils';
import { checkDelay, IOpenedDialog, openDialog } from './widget-fixtures';
import { IJobRequest } from '../api';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const BACKENDS = makeGpuBackends();

describe('The dialog’s pool fit', () => {
  checkDelay(80);
  afterEach(() => requestAPI.mockReset());

  function opened(
    options: SubmitDialog.IOptions = { gpu: null },
    resources = {}
  ): Promise<IOpenedDialog> {
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'lr', type: 'float', text: '0.1' }],
      { resources }
    );
    return openDialog(form, options); // disposed at the end: its launch rejects
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
  checkDelay(80);
  afterEach(() => requestAPI.mockReset());

  async function opened(
    gpu: SubmitDialog.IOptions['gpu']
  ): Promise<{ form: SubmitForm; dialog: SubmitDialog; node: HTMLElement }> {
    requestAPI.mockImplementation(poolCheck);
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {});
    const { dialog } = await openDialog(form, { gpu });
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
    const { dialog } = await openDialog(form);
    await sleep(50);
    const node = await rendered(form);
    expect(requestAPI.mock.calls.map(c => c[0])).toContain('gpu');
    expect(suggestButton(node)?.textContent).toBe(
      "Use 4096 MB (this kernel's peak)"
    );
    dialog.dispose();
  });

  it('asks the server of its jobs model', async () => {
    requestAPI.mockImplementation(async (path: string, init: RequestInit) =>
      path === 'gpu' ? gpuStatus() : poolCheck(path, init)
    );
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://lab.test/user/ana/'
    });
    const model = new JobsModel({ serverSettings: settings });
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {});
    const { dialog } = await openDialog(form, {}, model);
    await sleep(150);
    const asked = requestAPI.mock.calls.filter(c =>
      ['gpu', 'jobs/check'].includes(c[0])
    );
    expect(asked.map(c => c[0]).sort()).toEqual(['gpu', 'jobs/check']);
    expect(asked.every(c => c[2] === settings)).toBe(true);
    dialog.dispose();
    model.dispose();
  });
});
