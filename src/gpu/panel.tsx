import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatBytes } from '../spark/progress';
import type { IGpuDevice, IGpuKernel, IGpuMigMode, IGpuProcess } from './api';
import { migName, percent, size } from './format';
import type { GpuModel } from './model';

/** What the panel asks of Lab. */
export interface IGpuPanelActions {
  /** Open a notebook (a kernel's path). */
  open(path: string): void;
}

/** Memory used / total with a bar. */
export function MemoryBar(props: {
  used: number | null;
  total: number | null;
  label: string;
}): JSX.Element {
  const { used, total } = props;
  const share = used !== null && total ? percent(used, total) : 0;
  return (
    <div className="jp-SwanGpu-memory">
      <div
        className="jp-SwanGpu-bar"
        role="meter"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={total ?? undefined}
        aria-valuenow={used ?? undefined}
      >
        <span
          className={
            share >= 90
              ? 'jp-SwanGpu-bar-used jp-mod-full'
              : 'jp-SwanGpu-bar-used'
          }
          style={{ width: `${share.toFixed(1)}%` }}
        />
      </div>
      <span className="jp-SwanGpu-figures">
        {size(used)} / {size(total)}
      </span>
    </div>
  );
}

function MigMode(props: { mig: IGpuMigMode }): JSX.Element {
  const { current, pending } = props.mig;
  return (
    <div className="jp-SwanGpu-mig-mode" data-testid="gpu-mig-mode">
      MIG {current ? 'on' : 'off'}
      {pending !== current && ` (${pending ? 'on' : 'off'} after a GPU reset)`}
    </div>
  );
}

function Device(props: { device: IGpuDevice }): JSX.Element {
  const { device } = props;
  const facts = [
    device.utilization_percent === null
      ? 'utilization n/a'
      : `${device.utilization_percent}%`,
    device.temperature_c === null ? null : `${device.temperature_c} °C`
  ].filter(Boolean);
  return (
    <li className="jp-SwanGpu-device" data-testid="gpu-device">
      <div className="jp-SwanGpu-device-head">
        <span className="jp-SwanGpu-device-name" title={device.uuid}>
          GPU {device.index}: {device.name}
        </span>
        <span className="jp-SwanGpu-util" data-testid="gpu-utilization">
          {facts.join(' · ')}
        </span>
      </div>
      <MemoryBar
        used={device.memory_used_bytes}
        total={device.memory_total_bytes}
        label={`GPU ${device.index} memory`}
      />
      {device.mig && <MigMode mig={device.mig} />}
      {device.mig_instances.length > 0 && (
        <ul className="jp-SwanGpu-migs" aria-label="MIG instances">
          {device.mig_instances.map(m => (
            <li
              key={m.uuid}
              className="jp-SwanGpu-mig"
              data-testid="gpu-mig-instance"
            >
              <span className="jp-SwanGpu-mig-name" title={m.uuid}>
                {migName(m)}
              </span>
              <MemoryBar
                used={m.memory_used_bytes}
                total={m.memory_total_bytes}
                label={`MIG ${migName(m)} memory`}
              />
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function Kernel(props: {
  kernel: IGpuKernel;
  actions: IGpuPanelActions;
  /** MIG instance uuid → its short name. */
  migNames: ReadonlyMap<string, string>;
}): JSX.Element {
  const { kernel, actions, migNames } = props;
  const path = kernel.notebook;
  const where = kernel.devices
    .map(d => {
      const mig = d.mig_instance_uuid;
      return mig
        ? `GPU ${d.index} MIG ${migNames.get(mig) ?? ''}`.trim()
        : `GPU ${d.index}`;
    })
    .join(', ');
  return (
    <li className="jp-SwanGpu-kernel" data-testid="gpu-kernel">
      {path ? (
        <button
          className="jp-SwanGpu-path"
          data-testid="gpu-kernel-path"
          title={`Open ${path}`}
          onClick={() => actions.open(path)}
        >
          {path}
        </button>
      ) : (
        <span className="jp-SwanGpu-path" title={kernel.kernel_id}>
          kernel {kernel.kernel_id.slice(0, 8)}
        </span>
      )}
      <span className="jp-SwanGpu-kernel-memory">
        {kernel.memory_used_bytes === null
          ? 'memory n/a'
          : formatBytes(kernel.memory_used_bytes)}
        {where && ` on ${where}`}
        {kernel.peak_memory_bytes > 0 &&
          ` · peak ${formatBytes(kernel.peak_memory_bytes)}`}
      </span>
    </li>
  );
}

/** GPU processes that are not this server's kernels (other users' or other servers'). */
function others(devices: readonly IGpuDevice[]): IGpuProcess[] {
  const all: IGpuProcess[] = [];
  devices.forEach(d => all.push(...d.processes.filter(p => !p.kernel_id)));
  return all;
}

/** The GPU popup: devices (memory, utilization, MIG) and this server's kernels on them. */
export class GpuPanel extends ReactWidget {
  constructor(
    readonly model: GpuModel,
    readonly actions: IGpuPanelActions
  ) {
    super();
    this.addClass('jp-SwanGpu-panel');
    this.node.dataset.testid = 'gpu-panel';
    this.node.setAttribute('role', 'dialog');
    this.node.setAttribute('aria-label', 'GPU in this session');
    model.changed.connect(this._changed, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._changed, this);
    super.dispose();
  }

  render(): JSX.Element {
    const { status, error } = this.model;
    const kernels = [...(status?.kernels ?? [])].sort(
      (a, b) => (b.memory_used_bytes ?? 0) - (a.memory_used_bytes ?? 0)
    );
    const devices = status?.devices ?? [];
    const other = others(devices);
    const migNames = new Map<string, string>();
    devices.forEach(d =>
      d.mig_instances.forEach(m => migNames.set(m.uuid, migName(m)))
    );
    const sampled = status?.sampled_at ? new Date(status.sampled_at) : null;
    return (
      <div className="jp-SwanGpu-body">
        <div className="jp-SwanGpu-header">
          <h2>GPU in this session</h2>
          {status?.driver_version && (
            <span className="jp-SwanGpu-driver">
              driver {status.driver_version}
            </span>
          )}
        </div>
        {error && (
          <p className="jp-SwanGpu-error" role="alert">
            Not updated: {error}
          </p>
        )}
        {status && !status.available ? (
          <p className="jp-SwanGpu-empty">
            No GPU in this session{status.reason ? ` (${status.reason})` : ''}.
          </p>
        ) : (
          <ul className="jp-SwanGpu-devices" aria-label="GPUs">
            {devices.map(d => (
              <Device key={d.index} device={d} />
            ))}
          </ul>
        )}
        <h3>Kernels using the GPU</h3>
        {kernels.length ? (
          <ul className="jp-SwanGpu-kernels" aria-label="Kernels using the GPU">
            {kernels.map(k => (
              <Kernel
                key={k.kernel_id}
                kernel={k}
                actions={this.actions}
                migNames={migNames}
              />
            ))}
          </ul>
        ) : (
          <p className="jp-SwanGpu-empty">
            No kernel of this server uses a GPU.
          </p>
        )}
        {other.length > 0 && (
          <p className="jp-SwanGpu-others" data-testid="gpu-others">
            {`Other processes on the GPUs: ${other.length} (${formatBytes(
              other.reduce((n, p) => n + (p.memory_used_bytes ?? 0), 0)
            )})`}
          </p>
        )}
        {sampled && !isNaN(sampled.getTime()) && (
          <div className="jp-SwanGpu-sampled">
            sampled {sampled.toLocaleTimeString()}
          </div>
        )}
      </div>
    );
  }

  private _changed(): void {
    this.update();
  }
}
