import { Widget } from '@lumino/widgets';

import { IBackends } from '../api';
import { makeJob as job } from './fixtures';
import { JobsModel } from '../model';
import { JobMonitor, formatEngine, formatResources } from '../monitor/panel';
import { SubmitForm } from '../submit/dialog';

const requestAPI = jest.fn();
jest.mock('../api', () => ({
  ...jest.requireActual('../api'),
  requestAPI: (...args: any[]) => requestAPI(...args)
}));

const BACKENDS: IBackends = {
  backends: [
    {
      name: 'condor',
      available: true,
      capabilities: { gpu_constraints: true },
      resources: { gpus_total: 2, gpus_free: 1, gpu_types: [{ name: 'A100' }] }
    },
    {
      name: 'spark',
      available: false,
      reason: 'no cluster',
      capabilities: {},
      resources: {}
    }
  ],
  default_backend: 'condor',
  environments: [{ name: 'default', kernels: ['python3'] }],
  limits: { max_cpus: 4, max_memory_mb: 8192, max_gpus: 2 }
};

async function rendered(w: Widget): Promise<HTMLElement> {
  if (!w.isAttached) {
    Widget.attach(w, document.body);
  }
  w.update();
  await new Promise(r => setTimeout(r, 50));
  return w.node;
}

describe('SubmitForm', () => {
  it('offers backends (unavailable ones disabled, with the reason) and free GPUs', async () => {
    const form = new SubmitForm(
      'a.ipynb',
      BACKENDS,
      [{ name: 'n', type: 'int', text: '3' }],
      {}
    );
    const node = await rendered(form);
    const options = Array.from(
      node.querySelectorAll('#swan-backend option')
    ) as HTMLOptionElement[];
    expect(options.map(o => [o.value, o.disabled])).toEqual([
      ['condor', false],
      ['spark', true]
    ]);
    expect(options[1].textContent).toContain('no cluster');
    expect(node.textContent).toContain('1 of 2 GPUs free (A100)');
    expect(
      (node.querySelector('#swan-param-n') as HTMLInputElement).value
    ).toBe('3');
    form.dispose();
  });

  it('shows inline errors and gives no request for invalid values', async () => {
    const form = new SubmitForm('a.ipynb', BACKENDS, [], { cpus: 8 });
    expect(form.check()).toBeNull();
    const node = await rendered(form);
    const alert = node.querySelector('[role="alert"]');
    expect(alert?.textContent).toBe('cpus must be at most 4 on this server');
    expect(node.querySelector('#swan-cpus')?.getAttribute('aria-invalid')).toBe(
      'true'
    );
    form.values.cpus = '2';
    expect(form.check()).toEqual({
      notebook: 'a.ipynb',
      backend: 'condor',
      environment: 'default',
      name: undefined,
      parameters: {},
      resources: { cpus: 2, memory_mb: 2048, gpus: 0 }
    });
    form.dispose();
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
    const monitor = new JobMonitor(model, {
      open: jest.fn(),
      resubmit: jest.fn(),
      notify: jest.fn()
    });
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

  it('shows a job with its actions and formatted resources', async () => {
    requestAPI.mockResolvedValueOnce({
      jobs: [job('1', { state: 'held', message: 'held by the user' })],
      total: 1,
      next_page_token: null
    });
    const model = new JobsModel();
    await model.refresh();
    requestAPI.mockResolvedValue({
      stdout: 'epoch 1\n',
      stderr: '',
      live: true
    });
    const monitor = new JobMonitor(model, {
      open: jest.fn(),
      resubmit: jest.fn(),
      notify: jest.fn()
    });
    monitor.select('1');
    const node = await rendered(monitor);
    const buttons = Array.from(node.querySelectorAll('button')).map(
      b => b.textContent
    );
    expect(buttons).toEqual(
      expect.arrayContaining([
        'Cancel',
        'Release',
        'Open original',
        'Resubmit…'
      ])
    );
    expect(buttons).not.toContain('Hold');
    expect(node.textContent).toContain('held by the user');
    expect(formatResources(model.job('1')!)).toBe('2 CPU · 1024 MB · 1 GPU');
    expect(formatEngine(model.job('1')!)).toBe(
      'cluster 7 on slot1@node GPUs GPU-1'
    );
    monitor.dispose();
    model.dispose();
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
    const monitor = new JobMonitor(model, {
      open: jest.fn(),
      resubmit: jest.fn(),
      notify: jest.fn()
    });
    monitor.select('2');
    let node = await rendered(monitor);
    node = await rendered(monitor);
    expect(requestAPI.mock.calls.map(c => c[0])).toContain('jobs/2');
    expect(node.textContent).toContain('big = "xxxxxxxxxx"');
    monitor.dispose();
    model.dispose();
  });
});
