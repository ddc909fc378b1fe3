import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { GpuAPI, IGpuStatus } from './api';

export namespace GpuModel {
  export interface IOptions {
    serverSettings?: ServerConnection.ISettings;
    /** The API calls (tests may give their own). */
    api?: GpuAPI;
    /** Poll interval (ms) while the session has a GPU. */
    interval?: number;
    /** Poll interval (ms) while the server says there is none (and the most a backoff waits). */
    idleInterval?: number;
  }
}

/**
 * This session's GPUs, polled from `GET gpu`: every `interval` while there is a GPU, rarely
 * (`idleInterval`) while the server says there is none, backing off while the server does not
 * answer, standing by while the page is hidden.
 */
export class GpuModel implements IDisposable {
  constructor(options: GpuModel.IOptions = {}) {
    this.api = options.api ?? new GpuAPI(options.serverSettings);
    this.interval = options.interval ?? 2000;
    this.idleInterval = options.idleInterval ?? 60000;
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: {
        interval: this.interval,
        backoff: true,
        max: Math.max(this.interval, this.idleInterval)
      },
      name: 'swan-ml-ext:gpu',
      standby: 'when-hidden'
    });
  }

  readonly api: GpuAPI;
  readonly interval: number;
  readonly idleInterval: number;

  /** The last answer of the server (null before the first). */
  get status(): IGpuStatus | null {
    return this._status;
  }

  /** Why the last poll failed (null when it did not). */
  get error(): string | null {
    return this._error;
  }

  /** Whether there is something to show: the server answered with at least one GPU. */
  get shown(): boolean {
    return !!this._status?.available && this._status.devices.length > 0;
  }

  /** Emitted after every poll, answered or not. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when `shown` flips. */
  get shownChanged(): ISignal<this, void> {
    return this._shownChanged;
  }

  /** The poll's current interval (ms). */
  get currentInterval(): number {
    return this._poll.frequency.interval;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** Start polling (first request at once). */
  start(): Promise<void> {
    void this._poll.start();
    return this._poll.tick.then(() => undefined);
  }

  /** Ask the server now. */
  async refresh(): Promise<void> {
    const wasShown = this.shown;
    try {
      this._status = await this.api.status();
      this._error = null;
    } catch (reason: any) {
      this._error = reason?.message ?? String(reason);
      throw reason;
    } finally {
      if (!this.isDisposed) {
        this._changed.emit();
        if (wasShown !== this.shown) {
          this._shownChanged.emit();
        }
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    await this.refresh();
    // Answered: often while there is a GPU, rarely while the server says there is none.
    const interval =
      this._status && !this._status.available
        ? this.idleInterval
        : this.interval;
    if (interval !== this._poll.frequency.interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _poll: Poll;
  private _shownChanged = new Signal<this, void>(this);
  private _status: IGpuStatus | null = null;
}
