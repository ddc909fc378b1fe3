import { IStatusBar, Popup, showPopup, TextItem } from '@jupyterlab/statusbar';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { IGpuStatus } from './api';
import { gib, meanUtilization } from './format';
import type { GpuModel } from './model';
import { GpuPanel, IGpuPanelActions } from './panel';

/**
 * The status-bar text: "GPU 3.1/16 GiB · 40%", "2 GPUs · 9.3/48 GiB · 35%",
 * "GPU (MIG ×2) 3.1/40 GiB"; null when there is nothing to show.
 */
export function gpuLabel(status: IGpuStatus | null): string | null {
  const devices = status?.available ? status.devices : [];
  if (!devices.length) {
    return null;
  }
  let head = devices.length === 1 ? 'GPU' : `${devices.length} GPUs`;
  const mig = devices.filter(d => d.mig?.current);
  if (mig.length) {
    const instances = mig.reduce((n, d) => n + d.mig_instances.length, 0);
    head += instances ? ` (MIG ×${instances})` : ' (MIG)';
  }
  const used = devices.reduce((n, d) => n + d.memory_used_bytes, 0);
  const total = devices.reduce((n, d) => n + d.memory_total_bytes, 0);
  const memory = `${gib(used)}/${gib(total)} GiB`;
  const util = meanUtilization(devices);
  return [
    devices.length === 1 ? `${head} ${memory}` : `${head} · ${memory}`,
    util === null ? null : `${util}%`
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The tooltip: one line per device. */
export function gpuTitle(
  status: IGpuStatus | null,
  error: string | null
): string {
  const lines = (status?.devices ?? []).map(d => {
    const util =
      d.utilization_percent === null ? '' : `, ${d.utilization_percent}%`;
    const mig = d.mig?.current ? ', MIG' : '';
    return `GPU ${d.index}: ${d.name}, ${gib(d.memory_used_bytes)}/${gib(d.memory_total_bytes)} GiB${util}${mig}`;
  });
  if (error) {
    lines.push(`Not updated: ${error}`);
  }
  lines.push('Click for the devices and the kernels that use them');
  return lines.join('\n');
}

/**
 * This session's GPU use in the status bar; hidden while the server says there is no GPU.
 * A click (or Enter) opens the GPU panel above it; a second click closes it.
 */
export class GpuStatusItem extends ReactWidget {
  constructor(
    readonly model: GpuModel,
    readonly actions: IGpuPanelActions
  ) {
    super();
    this.addClass('jp-SwanGpu-status');
    this.addClass('jp-mod-highlight');
    this.node.dataset.testid = 'gpu-status';
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKey);
    model.changed.connect(this._changed, this);
    this._changed();
  }

  /** The open panel, if any. */
  get popup(): Popup | null {
    return this._popup;
  }

  /** Open the panel, or close it when it is open. */
  toggle(): void {
    if (this._popup) {
      this._popup.dispose();
      return;
    }
    if (!this.model.shown) {
      return;
    }
    // Opening a notebook from the panel closes it.
    const body = new GpuPanel(this.model, {
      open: path => {
        this.actions.open(path);
        this._popup?.dispose();
      }
    });
    const popup = showPopup({
      body,
      anchor: this,
      align: 'left',
      hasDynamicSize: typeof ResizeObserver !== 'undefined'
    });
    popup.disposed.connect(() => {
      if (this._popup === popup) {
        this._popup = null;
      }
    });
    this._popup = popup;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._popup?.dispose();
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('keydown', this._onKey);
    this.model.changed.disconnect(this._changed, this);
    super.dispose();
  }

  render(): JSX.Element | null {
    const label = gpuLabel(this.model.status);
    return label === null ? null : (
      <TextItem
        source={label}
        className={this.model.error ? 'jp-mod-stale' : undefined}
      />
    );
  }

  private _changed(): void {
    const shown = this.model.shown;
    this.setHidden(!shown);
    this.node.title = shown
      ? gpuTitle(this.model.status, this.model.error)
      : '';
    if (!shown) {
      this._popup?.dispose();
    }
    this.update();
  }

  private _onClick = (): void => this.toggle();

  private _onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.toggle();
    }
  };

  private _popup: Popup | null = null;
}

/** Put the GPU item into the status bar: shown only while the server reports a GPU. */
export function registerGpuStatus(
  statusBar: IStatusBar,
  model: GpuModel,
  actions: IGpuPanelActions
): GpuStatusItem {
  const item = new GpuStatusItem(model, actions);
  statusBar.registerStatusItem('swan-ml-ext:gpu', {
    item,
    align: 'left',
    rank: 100,
    isActive: () => model.shown,
    activeStateChanged: model.shownChanged
  });
  return item;
}
