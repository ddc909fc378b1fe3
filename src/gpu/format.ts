/** How the GPU item and panel write figures. */
import { formatBytes } from '../spark/progress';
import type { IGpuDevice, IGpuMigInstance } from './api';

/** Bytes as GiB without the unit: "0", "3.1", "16". */
export function gib(bytes: number): string {
  const value = Math.max(0, bytes) / 2 ** 30;
  if (value === 0) {
    return '0';
  }
  return value < 10 ? value.toFixed(1) : value.toFixed(0);
}

/** The mean utilization of the devices that report one (null when none does). */
export function meanUtilization(devices: readonly IGpuDevice[]): number | null {
  const known = devices
    .map(d => d.utilization_percent)
    .filter((u): u is number => typeof u === 'number');
  return known.length
    ? Math.round(known.reduce((a, b) => a + b, 0) / known.length)
    : null;
}

/** The share of `total` that `used` is, 0-100. */
export function percent(used: number, total: number): number {
  return total > 0 ? Math.min(100, Math.max(0, (100 * used) / total)) : 0;
}

/** Bytes, or "?" where NVML cannot tell. */
export function size(bytes: number | null): string {
  return bytes === null ? '?' : formatBytes(bytes);
}

/** A MIG instance's short name: "1g.5gb" of "NVIDIA A100-SXM4-40GB MIG 1g.5gb". */
export function migName(instance: IGpuMigInstance): string {
  return instance.name
    ? instance.name.split(' MIG ').pop()!
    : `instance ${instance.index}`;
}
