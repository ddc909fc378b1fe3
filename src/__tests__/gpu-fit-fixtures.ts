/**
 * What the GPU-fit specs share: the pool's answers to POST jobs/check and a GET gpu answer
 * (typing into the dialog is in testutils).
 */
import { IJobCheck, IJobRequest } from '../api';
import type { IGpuStatus } from '../gpu/api';

export const GiB = 2 ** 30;

export function modelSelect(node: HTMLElement): HTMLSelectElement {
  return node.querySelector('#swan-resources_gpu_model') as HTMLSelectElement;
}

/** A 4xx as requestAPI throws it (ServerConnection.ResponseError). */
export function refusal(status: number, message: string): Error {
  return Object.assign(new Error(message), { response: { status } });
}

export const REQUEST: IJobRequest = { notebook: 'a.ipynb', backend: 'condor' };
export const FITS: IJobCheck = {
  feasible: true,
  message: '3 GPUs match (2 free now)',
  reasons: [],
  matching: { slots: 1, gpus: 3, gpus_free: 2 },
  warnings: []
};

/** GET gpu: three kernels of this server (peaks 3.2 GB, 30 GB, none). */
export function gpuStatus(): IGpuStatus {
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
export async function poolCheck(
  path: string,
  init: RequestInit
): Promise<unknown> {
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
