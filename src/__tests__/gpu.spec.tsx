import { StatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import type { IGpuDevice, IGpuStatus } from '../gpu/api';
import { GpuModel } from '../gpu/model';
import { GpuStatusItem, gpuLabel, registerGpuStatus } from '../gpu/status';
import { requestAPI, sleep, until } from './spark-fixtures';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const GiB = 2 ** 30;
const gib = (n: number) => Math.round(n * GiB);

function device(index: number, over: Partial<IGpuDevice> = {}): IGpuDevice {
  return {
    index,
    uuid: `GPU-${index}`,
    name: 'Tesla T4',
    memory_used_bytes: gib(3.1),
    memory_total_bytes: gib(16),
    utilization_percent: 40,
    temperature_c: null,
    mig: null,
    mig_instances: [],
    processes: [],
    ...over
  };
}

function status(over: Partial<IGpuStatus> = {}): IGpuStatus {
  return {
    available: true,
    reason: null,
    sampled_at: '2026-11-30T23:50:00Z',
    driver_version: '550.54.15',
    devices: [device(0)],
    kernels: [],
    ...over
  };
}

const NO_GPU = status({
  available: false,
  reason: 'NVML not found',
  driver_version: null,
  devices: []
});

const A100_MIG = device(0, {
  name: 'NVIDIA A100-SXM4-40GB',
  memory_used_bytes: gib(3.1),
  memory_total_bytes: gib(40),
  utilization_percent: null,
  temperature_c: 41,
  mig: { current: true, pending: true },
  mig_instances: [
    {
      index: 0,
      uuid: 'MIG-a',
      name: 'NVIDIA A100-SXM4-40GB MIG 3g.20gb',
      memory_used_bytes: gib(2),
      memory_total_bytes: gib(20),
      gpu_instance_id: 1,
      compute_instance_id: 0
    },
    {
      index: 1,
      uuid: 'MIG-b',
      name: '',
      memory_used_bytes: null,
      memory_total_bytes: gib(20),
      gpu_instance_id: 2,
      compute_instance_id: 0
    }
  ],
  processes: [
    {
      pid: 4242,
      memory_used_bytes: gib(1),
      mig_instance_uuid: 'MIG-a',
      kernel_id: 'k-train-0123456789'
    },
    {
      pid: 999,
      memory_used_bytes: gib(1),
      mig_instance_uuid: 'MIG-a',
      kernel_id: null
    }
  ]
});

/** The server: answers `GET gpu` with `answer` (or fails with `failure`). */
let answer: IGpuStatus;
let failure: Error | null;
let model: GpuModel;
let bar: StatusBar;
let item: GpuStatusItem;
const open = jest.fn();

function q(node: HTMLElement, testid: string): HTMLElement[] {
  return Array.from(node.querySelectorAll(`[data-testid="${testid}"]`));
}

function gpuCalls(): number {
  return requestAPI.mock.calls.filter(c => c[0] === 'gpu').length;
}

beforeEach(() => {
  answer = status();
  failure = null;
  requestAPI.mockReset();
  requestAPI.mockImplementation(async (endPoint: string) => {
    if (endPoint !== 'gpu') {
      throw new Error(`unexpected ${endPoint}`);
    }
    if (failure) {
      throw failure;
    }
    return JSON.parse(JSON.stringify(answer));
  });
  model = new GpuModel({ interval: 100000, idleInterval: 100000 });
  bar = new StatusBar();
  Widget.attach(bar, document.body);
  item = registerGpuStatus(bar, model, { open });
});

afterEach(() => {
  item.dispose();
  bar.dispose();
  model.dispose();
  open.mockReset();
});

describe('gpuLabel', () => {
  it('says memory and utilization of one device', () => {
    expect(gpuLabel(status())).toBe('GPU 3.1/16 GiB · 40%');
  });

  it('sums several devices and averages the utilization they report', () => {
    // Given a T4 at 40% and an A100 at 30%, and a device that reports no utilization
    const devices = [
      device(0),
      device(1, {
        memory_used_bytes: gib(6),
        memory_total_bytes: gib(40),
        utilization_percent: 30
      }),
      device(2, { memory_used_bytes: 0, utilization_percent: null })
    ];
    // Then the label counts them, sums memory, averages the known utilization
    expect(gpuLabel(status({ devices }))).toBe('3 GPUs · 9.1/72 GiB · 35%');
  });

  it('notes MIG and its instances, without a utilization NVML cannot give', () => {
    expect(gpuLabel(status({ devices: [A100_MIG] }))).toBe(
      'GPU (MIG ×2) 3.1/40 GiB'
    );
    expect(
      gpuLabel(
        status({
          devices: [device(0), { ...A100_MIG, index: 1, uuid: 'GPU-1' }]
        })
      )
    ).toBe('2 GPUs (MIG ×2) · 6.2/56 GiB · 40%');
  });

  it('says nothing of MIG that is only pending (after a GPU reset)', () => {
    const pending = device(0, { mig: { current: false, pending: true } });
    expect(gpuLabel(status({ devices: [pending] }))).toBe(
      'GPU 3.1/16 GiB · 40%'
    );
  });

  it('has nothing to say without a GPU', () => {
    expect(gpuLabel(NO_GPU)).toBeNull();
    expect(gpuLabel(null)).toBeNull();
  });
});

describe('GpuStatusItem', () => {
  it('stays hidden when the server says there is no GPU', async () => {
    // Given a server without NVML
    answer = NO_GPU;
    // When the model has its answer
    await model.refresh();
    // Then the status bar does not show the item, and nothing can open the panel
    expect(model.shown).toBe(false);
    expect(item.isHidden).toBe(true);
    item.toggle();
    expect(item.popup).toBeNull();
    expect(q(document.body, 'gpu-panel')).toHaveLength(0);
  });

  it('shows the label once there is a GPU and hides again when it goes', async () => {
    // Given a hidden item (no answer yet)
    expect(item.isHidden).toBe(true);
    // When the server reports one T4
    await model.refresh();
    // Then the item shows its label
    await until(() => item.node.textContent === 'GPU 3.1/16 GiB · 40%');
    expect(item.isHidden).toBe(false);
    expect(q(bar.node, 'gpu-status')).toHaveLength(1);
    expect(item.node.title).toContain('GPU 0: Tesla T4');
    // When the GPU goes away
    answer = NO_GPU;
    await model.refresh();
    // Then the item hides
    expect(item.isHidden).toBe(true);
  });

  it('keeps the last figures, marked stale, while the server does not answer', async () => {
    await model.refresh();
    failure = new Error('Service Unavailable');
    await expect(model.refresh()).rejects.toThrow('Service Unavailable');
    expect(model.error).toBe('Service Unavailable');
    expect(item.isHidden).toBe(false);
    expect(item.node.title).toContain('Not updated: Service Unavailable');
    await until(() => !!item.node.querySelector('.jp-mod-stale'));
  });
});

describe('GpuPanel', () => {
  it('lists devices with memory, utilization, MIG, and the kernels on them', async () => {
    // Given a T4 and a MIG A100, and two kernels of this server
    answer = status({
      devices: [device(0), { ...A100_MIG, index: 1, uuid: 'GPU-1' }],
      kernels: [
        {
          kernel_id: 'k-small',
          notebook: 'work/small.ipynb',
          memory_used_bytes: 512 * 2 ** 20,
          peak_memory_bytes: 512 * 2 ** 20,
          pids: [17],
          devices: [
            {
              index: 0,
              uuid: 'GPU-0',
              mig_instance_uuid: null,
              memory_used_bytes: 512 * 2 ** 20
            }
          ]
        },
        {
          kernel_id: 'k-train-0123456789',
          notebook: null,
          memory_used_bytes: gib(2),
          peak_memory_bytes: gib(3),
          pids: [4242, 4243],
          devices: [
            {
              index: 0,
              uuid: 'GPU-0',
              mig_instance_uuid: null,
              memory_used_bytes: gib(1)
            },
            {
              index: 1,
              uuid: 'GPU-1',
              mig_instance_uuid: 'MIG-a',
              memory_used_bytes: gib(1)
            }
          ]
        },
        {
          kernel_id: 'k-blind',
          notebook: 'work/blind.ipynb',
          memory_used_bytes: null,
          peak_memory_bytes: 0,
          pids: [5],
          devices: []
        }
      ]
    });
    await model.refresh();
    // When the item is clicked
    item.node.click();
    await until(() => q(document.body, 'gpu-device').length === 2);
    const [panel] = q(document.body, 'gpu-panel');
    // Then each device says its name, memory and utilization, and the A100 its MIG instances
    const [t4, a100] = q(panel, 'gpu-device');
    expect(t4.textContent).toContain('GPU 0: Tesla T4');
    expect(t4.textContent).toContain('3.1 GiB / 16 GiB');
    expect(q(t4, 'gpu-utilization')[0].textContent).toBe('40%');
    expect(q(t4, 'gpu-mig-mode')).toHaveLength(0);
    expect(
      a100.querySelector('[role="meter"]')!.getAttribute('aria-valuenow')
    ).toBe(String(gib(3.1)));
    expect(q(a100, 'gpu-utilization')[0].textContent).toBe(
      'utilization n/a · 41 °C'
    );
    expect(q(a100, 'gpu-mig-mode')[0].textContent).toBe('MIG on');
    expect(q(a100, 'gpu-mig-instance').map(m => m.textContent)).toEqual([
      '3g.20gb2.0 GiB / 20 GiB',
      'instance 1? / 20 GiB'
    ]);
    expect(panel.textContent).toContain('driver 550.54.15');
    // And the kernels, the largest first, with their devices and peak
    const kernels = q(panel, 'gpu-kernel');
    expect(kernels.map(k => k.textContent)).toEqual([
      'kernel k-train-2.0 GiB on GPU 0, GPU 1 MIG 3g.20gb · peak 3.0 GiB',
      'work/small.ipynb512 MiB on GPU 0 · peak 512 MiB',
      'work/blind.ipynbmemory n/a'
    ]);
    // And the processes that are no kernel of this server
    expect(q(panel, 'gpu-others')[0].textContent).toBe(
      'Other processes on the GPUs: 1 (1.0 GiB)'
    );
    // When a kernel's notebook is clicked
    q(kernels[1], 'gpu-kernel-path')[0].click();
    // Then it opens, and the popup closes
    expect(open).toHaveBeenCalledWith('work/small.ipynb');
    expect(item.popup).toBeNull();
    expect(q(document.body, 'gpu-panel')).toHaveLength(0);
  });

  it('closes on a second click and when the GPU goes away', async () => {
    await model.refresh();
    item.node.click();
    expect(item.popup).not.toBeNull();
    item.node.click();
    expect(item.popup).toBeNull();
    item.toggle();
    expect(q(document.body, 'gpu-panel')).toHaveLength(1);
    answer = NO_GPU;
    await model.refresh();
    expect(q(document.body, 'gpu-panel')).toHaveLength(0);
  });

  it('follows the model while open', async () => {
    await model.refresh();
    item.toggle();
    await until(() => q(document.body, 'gpu-device').length === 1);
    answer = status({ devices: [device(0), device(1)] });
    await model.refresh();
    await until(() => q(document.body, 'gpu-device').length === 2);
    await until(() => item.node.textContent === '2 GPUs · 6.2/32 GiB · 40%');
  });
});

describe('GpuModel polling', () => {
  it('polls often while there is a GPU and rarely while there is none', async () => {
    // Given a fast cadence with a GPU and a slow one without
    model.dispose();
    model = new GpuModel({ interval: 30, idleInterval: 600 });
    // When it starts against a server with a GPU
    await model.start();
    expect(model.currentInterval).toBe(30);
    // Then it asks again and again
    await until(() => gpuCalls() >= 4);
    // When the server says there is no GPU
    answer = NO_GPU;
    await until(() => model.status?.available === false);
    // Then the cadence drops to the idle interval and the requests stop for a while
    expect(model.currentInterval).toBe(600);
    const calls = gpuCalls();
    await sleep(250);
    expect(gpuCalls()).toBe(calls);
    // When a GPU appears again, it is seen at the next (slow) tick and the cadence is fast again
    answer = status();
    await until(() => model.shown, 2000);
    expect(model.currentInterval).toBe(30);
    await until(() => gpuCalls() >= calls + 4);
  });

  it('backs off while the server fails, without showing anything', async () => {
    model.dispose();
    model = new GpuModel({ interval: 20, idleInterval: 400 });
    failure = new Error('Not Found');
    void model.start().catch(() => undefined);
    await sleep(400);
    // A fixed 20 ms cadence would have asked ~20 times; backing off asks far fewer
    expect(gpuCalls()).toBeGreaterThanOrEqual(1);
    expect(gpuCalls()).toBeLessThan(10);
    expect(model.error).toBe('Not Found');
    expect(model.shown).toBe(false);
  });
});
