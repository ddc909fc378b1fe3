import { makeBackends, makeJob as job } from './fixtures';
import { requestAPI } from './spark-fixtures';
import { enter, field, rendered } from './testutils';
import { IOpenedDialog, monitorOf, openDialog } from './widget-fixtures';
import { JobsModel } from '../model';
import { JobMonitor, formatEngine } from '../monitor/panel';
import { SubmitDialog, SubmitForm } from '../submit/dialog';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const BACKENDS = makeBackends();
/** These specs are about submitting and previewing: no pool fit, no GPU lookup (gpu-fit.spec). */
const NO_FIT = { check: null, gpu: null };

function alerts(node: HTMLElement): string[] {
  return Array.from(node.querySelectorAll('[role="alert"]')).map(
    a => a.textContent ?? ''
  );
}

describe('SubmitForm', () => {
  afterEach(() => requestAPI.mockReset());

  it('renders the chosen backend’s fields from its resource schema', async () => {
    // Given the server's backends and a notebook with one parameter
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'n', type: 'int', text: '3' }],
      {}
    );
    // When the form is shown
    const node = await rendered(form);
    // Then the backends are offered by title (unavailable ones disabled, with the reason)
    const options = Array.from(
      node.querySelectorAll('#swan-backend option')
    ) as HTMLOptionElement[];
    expect(options.map(o => [o.value, o.disabled, o.textContent])).toEqual([
      ['condor', false, 'HTCondor'],
      ['spark', false, 'Spark'],
      ['kubeflow', true, 'Kubeflow — unavailable: no cluster']
    ]);
    // and the default backend's fields, in the schema's order, titled with their units
    const fields = Array.from(
      node.querySelectorAll('.jp-SwanML-resources input')
    ).map(i => [i.getAttribute('aria-label'), (i as HTMLInputElement).value]);
    expect(fields).toEqual([
      ['CPUs', '1'],
      ['Memory (MB)', '2048'],
      ['GPUs', '0'],
      ['Minimum GPU capability', ''],
      ['Maximum runtime (s)', '']
    ]);
    expect(field(node, 'CPUs').id).toBe('swan-resources_cpus');
    expect(field(node, 'CPUs').getAttribute('max')).toBe('4');
    expect(node.textContent).toContain('1 of 2 GPUs free in the pool');
    expect(
      node.querySelector('[aria-label="Pool GPUs by model"]')?.textContent
    ).toBe('A100');
    // the server's default environment, parameters as today
    expect(
      (node.querySelector('#swan-environment') as HTMLSelectElement).value
    ).toBe('default');
    expect(
      (node.querySelector('#swan-param-n') as HTMLInputElement).value
    ).toBe('3');
    expect(form.check()).toEqual({
      notebook: 'a.ipynb',
      backend: 'condor',
      environment: 'default',
      name: undefined,
      parameters: { n: 3 },
      resources: { cpus: 1, memory_mb: 2048, gpus: 0 }
    });
    form.dispose();
  });

  it('renders another backend’s own fields when the backend changes', async () => {
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {
      resources: { cpus: 2 }
    });
    let node = await rendered(form);
    await enter(field(node, 'CPUs'), '3');
    // When the user chooses the other backend
    await enter(
      node.querySelector('#swan-backend') as HTMLSelectElement,
      'spark'
    );
    node = await rendered(form);
    // Then its fields are shown, a field both have keeps its value
    const labels = Array.from(
      node.querySelectorAll('.jp-SwanML-resources input')
    ).map(i => i.getAttribute('aria-label'));
    expect(labels).toEqual(['Executors', 'Driver CPUs']);
    const size = node.querySelector(
      '#swan-resources_executor_size'
    ) as HTMLSelectElement;
    expect(
      node.querySelector('label[for="swan-resources_executor_size"]')
        ?.textContent
    ).toBe('Executor size');
    expect(field(node, 'Driver CPUs').value).toBe('3');
    expect(node.querySelector('[aria-label="Memory (MB)"]')).toBeNull();
    expect(node.textContent).not.toContain('GPUs free');
    await enter(field(node, 'Executors'), '6');
    await enter(size, '1');
    expect(form.check()).toEqual({
      notebook: 'a.ipynb',
      backend: 'spark',
      environment: 'default',
      name: undefined,
      parameters: {},
      resources: { executors: 6, executor_size: 'large', cpus: 3 }
    });
    // and back: the first backend's values are still there
    await enter(
      node.querySelector('#swan-backend') as HTMLSelectElement,
      'condor'
    );
    node = await rendered(form);
    expect(field(node, 'CPUs').value).toBe('3');
    expect(field(node, 'Memory (MB)').value).toBe('2048');
    form.dispose();
  });

  it('shows an optional choice left empty as "not set", not as its first option', async () => {
    // Given a backend with an optional choice (enum with null, default null), such as
    // the kubeflow backend's accelerator type
    const backends = makeBackends();
    backends.backends = [
      {
        ...backends.backends[1],
        resource_schema: {
          type: 'object',
          title: 'Resources',
          additionalProperties: false,
          properties: {
            gpus: {
              type: 'integer',
              title: 'GPUs',
              minimum: 0,
              maximum: 2,
              default: 0
            },
            accelerator_type: {
              type: ['string', 'null'],
              title: 'Accelerator type',
              enum: ['nvidia.com/gpu', 'amd.com/gpu', null],
              default: null
            }
          }
        }
      }
    ];
    backends.default_backend = 'spark';
    const form = new SubmitForm('a.ipynb', backends, [], {});
    const node = await rendered(form);
    const select = node.querySelector(
      '#swan-resources_accelerator_type'
    ) as HTMLSelectElement;
    // Then the empty value is an option of its own, chosen, and no option reads "null"
    const options = Array.from(select.options).map(o => [
      o.value,
      o.textContent
    ]);
    expect(options).toEqual([
      ['', 'not set'],
      ['0', 'nvidia.com/gpu'],
      ['1', 'amd.com/gpu']
    ]);
    expect(select.value).toBe('');
    expect(select.selectedOptions[0].textContent).toBe('not set');
    expect(form.check()?.resources).toEqual({ gpus: 0 });
    // choosing a type sets it, choosing "not set" again leaves it out
    await enter(select, '1');
    expect(form.check()?.resources).toEqual({
      gpus: 0,
      accelerator_type: 'amd.com/gpu'
    });
    expect(select.selectedOptions[0].textContent).toBe('amd.com/gpu');
    await enter(select, '');
    expect(form.check()?.resources).toEqual({ gpus: 0 });
    expect(select.selectedOptions[0].textContent).toBe('not set');
    form.dispose();
    // a preferred value (a resubmitted job's) is shown as chosen
    const again = new SubmitForm('a.ipynb', backends, [], {
      resources: { accelerator_type: 'nvidia.com/gpu' }
    });
    const node2 = await rendered(again);
    const select2 = node2.querySelector(
      '#swan-resources_accelerator_type'
    ) as HTMLSelectElement;
    expect(select2.selectedOptions[0].textContent).toBe('nvidia.com/gpu');
    expect(again.check()?.resources).toEqual({
      gpus: 0,
      accelerator_type: 'nvidia.com/gpu'
    });
    again.dispose();
  });

  it('shows inline errors from the schema and gives no request', async () => {
    // Given a preferred value above the backend's maximum
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'x', type: 'int', text: 'forty' }],
      { resources: { cpus: 8 } }
    );
    let node = await rendered(form);
    // When the user also enters a memory below the minimum and a fractional GPU count
    await enter(field(node, 'Memory (MB)'), '0');
    await enter(field(node, 'GPUs'), '1.5');
    // Then nothing can be submitted, and each field says what is wrong
    expect(form.check()).toBeNull();
    node = await rendered(form);
    expect(alerts(node)).toEqual([
      'CPUs must be at most 4',
      'Memory must be at least 1',
      'GPUs must be a whole number',
      'x must be an integer'
    ]);
    expect(field(node, 'CPUs').getAttribute('aria-invalid')).toBe('true');
    expect(field(node, 'CPUs').getAttribute('aria-describedby')).toContain(
      'swan-resources_cpus__error'
    );
    expect(form.resourceErrors).toEqual({
      cpus: 'CPUs must be at most 4',
      memory_mb: 'Memory must be at least 1',
      gpus: 'GPUs must be a whole number'
    });
    // When the values are corrected, the errors go and the request is built
    await enter(field(node, 'CPUs'), '2');
    await enter(field(node, 'Memory (MB)'), '512');
    await enter(field(node, 'GPUs'), '1');
    await enter(field(node, 'Minimum GPU capability'), '8.0');
    await enter(node.querySelector('#swan-param-x') as HTMLInputElement, '40');
    const request = form.check();
    node = await rendered(form);
    expect(alerts(node)).toEqual([]);
    expect(request?.resources).toEqual({
      cpus: 2,
      memory_mb: 512,
      gpus: 1,
      gpu_capability: 8
    });
    expect(request?.parameters).toEqual({ x: 40 });
    form.dispose();
  });

  it('submits nothing while a value is invalid, and stays open on a 4xx', async () => {
    const model = new JobsModel();
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {
      resources: { gpus: 3 }
    });
    const dialog = new SubmitDialog(form, model, NO_FIT);
    const result = dialog.launch();
    await rendered(form);
    // When Submit is pressed with an invalid value
    dialog.resolve(1);
    let node = await rendered(form);
    // Then no request was made and the dialog is still open with the error
    expect(requestAPI).not.toHaveBeenCalled();
    expect(dialog.isAttached).toBe(true);
    expect(alerts(node)).toEqual(['GPUs must be at most 2']);
    // When the server refuses the corrected job
    await enter(field(node, 'GPUs'), '1');
    requestAPI.mockRejectedValueOnce(
      new Error("environment 'default' has no kernel 'julia'")
    );
    dialog.resolve(1);
    node = await rendered(form);
    // Then its message is shown and the dialog stays open
    expect(requestAPI.mock.calls[0][0]).toBe('jobs');
    expect(JSON.parse(requestAPI.mock.calls[0][1].body).resources).toEqual({
      cpus: 1,
      memory_mb: 2048,
      gpus: 1
    });
    expect(alerts(node)).toEqual([
      "environment 'default' has no kernel 'julia'"
    ]);
    expect(dialog.isAttached).toBe(true);
    // When it accepts the job, the dialog closes with it
    requestAPI.mockResolvedValueOnce(job('9'));
    dialog.resolve(1);
    expect((await result).button.accept).toBe(true);
    expect(dialog.job?.id).toBe('9');
    model.dispose();
  });
});

describe('Preview', () => {
  const PREVIEW = {
    backend: 'condor',
    format: 'htcondor-submit',
    text: 'executable = /s/xxxxxxxxxxxx/swan_job.sh\nrequest_cpus = 1\nrequest_memory = 2048M\nqueue\n',
    notebook: 'a.ipynb',
    name: 'a',
    parameters: { n: 3 },
    resources: { cpus: 1, memory_mb: 2048, gpus: 0, disk_mb: 4096 },
    environment: 'default',
    kernel_name: 'python3',
    inputs: [],
    existing_job: null
  };

  beforeAll(() => {
    SubmitForm.previewDelay = 0;
  });
  afterEach(() => requestAPI.mockReset());

  function toggle(node: HTMLElement): HTMLButtonElement {
    const button = Array.from(node.querySelectorAll('button')).find(b =>
      b.textContent?.trim().endsWith('Preview')
    );
    if (!button) {
      throw new Error('no Preview button');
    }
    return button as HTMLButtonElement;
  }

  function shown(node: HTMLElement): string | null {
    const pre = node.querySelector('pre[aria-label="Preview"]');
    return pre ? (pre.textContent ?? '') : null;
  }

  function opened(): Promise<IOpenedDialog> {
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'n', type: 'int', text: '3' }],
      {}
    );
    return openDialog(form, NO_FIT); // disposed at the end: its launch rejects
  }

  it('shows what the current values would hand to the engine, submitting nothing', async () => {
    const { form, dialog, model, node } = await opened();
    // Given a closed disclosure
    expect(toggle(node).getAttribute('aria-expanded')).toBe('false');
    expect(shown(node)).toBeNull();
    // When Preview is pressed
    requestAPI.mockResolvedValueOnce(PREVIEW);
    toggle(node).click();
    let after = await rendered(form);
    // Then the server's preview of the form's request is shown, in a monospace block
    expect(requestAPI).toHaveBeenCalledTimes(1);
    expect(requestAPI.mock.calls[0][0]).toBe('jobs/preview');
    expect(requestAPI.mock.calls[0][1].method).toBe('POST');
    expect(JSON.parse(requestAPI.mock.calls[0][1].body)).toEqual({
      notebook: 'a.ipynb',
      backend: 'condor',
      environment: 'default',
      parameters: { n: 3 },
      resources: { cpus: 1, memory_mb: 2048, gpus: 0 }
    });
    expect(toggle(after).getAttribute('aria-expanded')).toBe('true');
    expect(shown(after)).toBe(PREVIEW.text);
    expect(after.textContent).toContain(
      'htcondor-submit: what HTCondor would get'
    );
    // When a value changes, the open preview follows it
    requestAPI.mockResolvedValueOnce({
      ...PREVIEW,
      text: 'request_cpus = 3\n'
    });
    await enter(field(after, 'CPUs'), '3');
    await new Promise(r => setTimeout(r, 30));
    after = await rendered(form);
    expect(requestAPI).toHaveBeenCalledTimes(2);
    expect(
      JSON.parse(requestAPI.mock.calls[1][1].body).resources
    ).toMatchObject({ cpus: 3 });
    expect(shown(after)).toBe('request_cpus = 3\n');
    // When it is closed, the text goes, and no job was ever submitted
    toggle(after).click();
    after = await rendered(form);
    expect(shown(after)).toBeNull();
    expect(requestAPI.mock.calls.map(c => c[0])).toEqual([
      'jobs/preview',
      'jobs/preview'
    ]);
    expect(dialog.isAttached).toBe(true);
    dialog.dispose();
    model.dispose();
  });

  it('shows a refusal like a refused submission, and invalid values ask nothing', async () => {
    const { form, dialog, model, node } = await opened();
    // When the server refuses the request
    requestAPI.mockRejectedValueOnce(
      new Error(
        'GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1'
      )
    );
    toggle(node).click();
    let after = await rendered(form);
    // Then its message is an alert, as for Submit, and no text is shown
    expect(alerts(after)).toEqual([
      'GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1'
    ]);
    expect(shown(after)).toBeNull();
    expect(after.querySelector('#swan-preview')?.textContent).toBe(
      'No preview for these values: see what is wrong.'
    );
    // When a value is invalid, nothing is asked and the field says why
    await enter(field(after, 'CPUs'), '0');
    await new Promise(r => setTimeout(r, 30));
    after = await rendered(form);
    expect(requestAPI).toHaveBeenCalledTimes(1);
    expect(alerts(after)).toContain('CPUs must be at least 1');
    // When it is corrected, the preview comes, and the refusal goes
    requestAPI.mockResolvedValueOnce(PREVIEW);
    await enter(field(after, 'CPUs'), '1');
    await new Promise(r => setTimeout(r, 30));
    after = await rendered(form);
    expect(requestAPI).toHaveBeenCalledTimes(2);
    expect(alerts(after)).toEqual([]);
    expect(shown(after)).toBe(PREVIEW.text);
    dialog.dispose();
    model.dispose();
  });

  it('is not offered by a jobs model without previews', async () => {
    const model = new JobsModel();
    (model as any).preview = undefined;
    const form = new SubmitForm('a.ipynb', BACKENDS, [], {});
    const dialog = new SubmitDialog(form, model, NO_FIT);
    void dialog.launch().catch(() => undefined);
    const node = await rendered(form);
    expect(node.querySelector('.jp-SwanML-previewToggle')).toBeNull();
    dialog.dispose();
    model.dispose();
  });
});

describe('JobMonitor', () => {
  it('renders only the visible rows of thousands of jobs, and filters them', async () => {
    const jobs = Array.from({ length: 3000 }, (_, i) =>
      job(String(i), { state: i % 2 ? 'completed' : 'failed' })
    );
    requestAPI.mockResolvedValueOnce({
      jobs,
      total: 3000,
      next_page_token: null
    });
    const model = new JobsModel();
    await model.refresh();
    const monitor = monitorOf(model);
    let node = await rendered(monitor);
    expect(node.querySelectorAll('li').length).toBeLessThan(60);
    expect(node.textContent).toContain('3000 of 3000 jobs');
    monitor.filter = { state: 'failed', backend: '', text: '' };
    node = await rendered(monitor);
    expect(node.textContent).toContain('1500 of 3000 jobs');
    for (const li of Array.from(node.querySelectorAll('li'))) {
      expect(li.getAttribute('aria-label')).toMatch(/failed$/);
    }
    monitor.dispose();
    model.dispose();
  });

  /** A model that has loaded these jobs and the fixture's backends. */
  async function modelWith(
    ...jobs: ReturnType<typeof job>[]
  ): Promise<JobsModel> {
    requestAPI.mockReset();
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'backends') {
        return BACKENDS;
      }
      if (path.startsWith('jobs?')) {
        return { jobs, total: jobs.length, next_page_token: null };
      }
      if (path.includes('/logs')) {
        return { stdout: 'epoch 1\n', stderr: '', live: true };
      }
      throw new Error(`unexpected ${path}`);
    });
    const model = new JobsModel();
    await model.loadBackends();
    await model.refresh();
    return model;
  }

  async function detail(
    model: JobsModel,
    id: string
  ): Promise<{ node: HTMLElement; buttons: string[]; monitor: JobMonitor }> {
    const monitor = monitorOf(model);
    monitor.select(id);
    const node = await rendered(monitor);
    const buttons = Array.from(
      node.querySelectorAll('.jp-SwanML-actions button')
    ).map(b => b.textContent ?? '');
    return { node, buttons, monitor };
  }

  it('shows a job with the actions its backend has, resources and engine labels', async () => {
    const model = await modelWith(
      job('1', { state: 'held', message: 'held by the user' })
    );
    const { node, buttons, monitor } = await detail(model, '1');
    expect(buttons).toEqual([
      'Cancel',
      'Release',
      'Open original',
      'Resubmit…'
    ]);
    expect(node.textContent).toContain('held by the user');
    const fields = Array.from(node.querySelectorAll('dt')).map(dt => [
      dt.textContent,
      dt.nextElementSibling?.textContent
    ]);
    expect(fields).toEqual(
      expect.arrayContaining([
        ['Backend', 'HTCondor'],
        ['Resources', 'CPUs 2 · Memory 1024 MB · GPUs 1'],
        ['Engine', 'cluster 7 on slot1@node GPUs GPU-1']
      ])
    );
    monitor.dispose();
    model.dispose();
  });

  it('offers Hold, progress and a followed log only where the backend can', async () => {
    const model = await modelWith(
      job('1', { state: 'running' }),
      job('2', { state: 'running', backend: 'spark', engine_ref: {} }),
      job('3', { state: 'running', backend: 'gone' })
    );
    // a backend with hold, progress and live logs
    let d = await detail(model, '1');
    expect(d.buttons).toEqual(['Cancel', 'Hold', 'Open original', 'Resubmit…']);
    expect(d.node.querySelector('progress')).not.toBeNull();
    expect(requestAPI.mock.calls.map(c => c[0])).toContain(
      'jobs/1/logs?tail=200'
    );
    expect(d.node.querySelector('[aria-label="Log tail"]')?.textContent).toBe(
      'epoch 1\n'
    );
    d.monitor.dispose();
    // a backend that cannot hold, reports no progress and has no live logs
    requestAPI.mockClear();
    d = await detail(model, '2');
    expect(d.buttons).toEqual(['Cancel', 'Open original', 'Resubmit…']);
    expect(d.node.querySelector('progress')).toBeNull();
    expect(requestAPI).not.toHaveBeenCalled();
    expect(d.node.querySelector('[aria-label="Log tail"]')?.textContent).toBe(
      'The log is shown once the job has finished.'
    );
    d.monitor.dispose();
    // a backend the server does not publish any more: nothing it cannot promise
    d = await detail(model, '3');
    expect(d.buttons).toEqual(['Open original', 'Resubmit…']);
    d.monitor.dispose();
    // the list shows progress bars only for the backend that reports progress
    const monitor = monitorOf(model);
    const node = await rendered(monitor);
    const rows = Array.from(node.querySelectorAll('li')).map(li => [
      li.getAttribute('aria-label'),
      !!li.querySelector('progress')
    ]);
    expect(rows).toEqual([
      ['job 1 running', true],
      ['job 2 running', false],
      ['job 3 running', false]
    ]);
    monitor.dispose();
    model.dispose();
  });

  it('reads a finished job’s log once, also without live logs', async () => {
    const model = await modelWith(
      job('2', { state: 'completed', backend: 'spark' })
    );
    const d = await detail(model, '2');
    expect(d.buttons).toEqual(['Open original', 'Resubmit…']);
    expect(requestAPI.mock.calls.map(c => c[0])).toContain(
      'jobs/2/logs?tail=200'
    );
    expect(d.node.querySelector('[aria-label="Log tail"]')?.textContent).toBe(
      'epoch 1\n'
    );
    d.monitor.dispose();
    model.dispose();
  });

  it('shows a log without its terminal colour codes', async () => {
    // Given a finished job whose log has ANSI escape sequences (kfp.local colours its
    // lines; tracebacks are coloured too)
    const model = await modelWith(job('4', { state: 'completed' }));
    requestAPI.mockImplementation(async (path: string) =>
      path.includes('/logs')
        ? {
            stdout:
              "INFO - Running pipeline: \u001b[95m'swan-ml-1'\u001b[0m\n" +
              '\u001b[1;31mValueError\u001b[0m: bad\u001b[K\n',
            stderr: '\u001b]0;title\u0007done\n',
            live: true
          }
        : BACKENDS
    );
    const d = await detail(model, '4');
    // Then it reads as plain text
    expect(d.node.querySelector('[aria-label="Log tail"]')?.textContent).toBe(
      "INFO - Running pipeline: 'swan-ml-1'\nValueError: bad\ndone\n"
    );
    d.monitor.dispose();
    model.dispose();
  });

  it('shows the engine reference through the backend’s labels', () => {
    const [batch, spark] = BACKENDS.backends;
    expect(formatEngine(job('1'), batch.engine_ref_labels)).toBe(
      'cluster 7 on slot1@node GPUs GPU-1'
    );
    // in the labels' order; unlabelled and empty keys are not shown
    const j = job('2', {
      engine_ref: { internal: 'x', app_id: 'app-1', other: 3 }
    });
    expect(formatEngine(j, spark.engine_ref_labels)).toBe('application app-1');
    expect(
      formatEngine(
        job('3', { engine_ref: { cluster_id: 0, execute_host: '' } }),
        [
          { key: 'execute_host', label: 'on' },
          { key: 'cluster_id', label: 'cluster' }
        ]
      )
    ).toBe('cluster 0');
    expect(
      formatEngine(job('4', { engine_ref: { gpus: ['a', 'b'] } }), [
        { key: 'gpus', label: 'GPUs' }
      ])
    ).toBe('GPUs a,b');
    expect(formatEngine(job('5'), [])).toBe('—');
    expect(formatEngine(job('5'))).toBe('—');
  });

  it('loads the whole job when the list page left its parameters out', async () => {
    requestAPI.mockResolvedValueOnce({
      jobs: [job('2', { parameters: {}, truncated: ['parameters'] })],
      total: 1,
      next_page_token: null
    });
    const model = new JobsModel();
    await model.refresh();
    requestAPI.mockImplementation(async (path: string) =>
      path === 'jobs/2'
        ? job('2', { parameters: { big: 'x'.repeat(10) } })
        : { stdout: '', stderr: '', live: true }
    );
    const monitor = monitorOf(model);
    monitor.select('2');
    let node = await rendered(monitor);
    node = await rendered(monitor);
    expect(requestAPI.mock.calls.map(c => c[0])).toContain('jobs/2');
    expect(node.textContent).toContain('big = "xxxxxxxxxx"');
    monitor.dispose();
    model.dispose();
  });
});
