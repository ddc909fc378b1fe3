/**
 * The GPU part of the swan-ml-ext REST API (`{base}swan-ml-ext/gpu`): this session's GPUs as
 * the server samples them through NVML (at most once per second however many clients ask).
 */
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from '../api';

/** One MIG instance of a device (bytes; null where NVML does not report). */
export interface IGpuMigInstance {
  index: number;
  uuid: string;
  /** e.g. "NVIDIA A100-SXM4-40GB MIG 1g.5gb" (may be empty). */
  name: string;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  gpu_instance_id: number | null;
  compute_instance_id: number | null;
}

/** A process NVML sees on a device. */
export interface IGpuProcess {
  pid: number;
  /** null: NVML cannot tell. */
  memory_used_bytes: number | null;
  mig_instance_uuid: string | null;
  /** The kernel of this server it belongs to; null: not this server's. */
  kernel_id: string | null;
}

/** MIG mode: `current`, and `pending` (what it becomes on the next GPU reset). */
export interface IGpuMigMode {
  current: boolean;
  pending: boolean;
}

export interface IGpuDevice {
  index: number;
  uuid: string;
  name: string;
  memory_used_bytes: number;
  memory_total_bytes: number;
  /** 0-100; null: NVML cannot tell (e.g. in MIG mode). */
  utilization_percent: number | null;
  temperature_c: number | null;
  /** null: the GPU has no MIG. */
  mig: IGpuMigMode | null;
  mig_instances: IGpuMigInstance[];
  processes: IGpuProcess[];
}

/** Where a kernel holds GPU memory. */
export interface IGpuKernelDevice {
  index: number;
  uuid: string;
  mig_instance_uuid: string | null;
  memory_used_bytes: number;
}

/** A kernel of this server that uses, or used, a GPU. */
export interface IGpuKernel {
  kernel_id: string;
  /** The path of its session under the server root; null for a kernel without one. */
  notebook: string | null;
  /** Now, over its processes and devices; null: NVML cannot tell. */
  memory_used_bytes: number | null;
  /** The highest the server's sampler has seen in this server's life. */
  peak_memory_bytes: number;
  pids: number[];
  devices: IGpuKernelDevice[];
}

/**
 * What `GET gpu` answers (openapi.yaml, schema `Gpu`); `available: false` (no NVML, no GPU)
 * is a calm answer, not an error.
 */
export interface IGpuStatus {
  available: boolean;
  reason: string | null;
  sampled_at: string;
  driver_version: string | null;
  devices: IGpuDevice[];
  kernels: IGpuKernel[];
}

export class GpuAPI {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  status(): Promise<IGpuStatus> {
    return requestAPI<IGpuStatus>('gpu', {}, this.serverSettings);
  }
}
