import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { FINAL_SWEEP_STATES, ISweep, SweepAPI } from './api';

export namespace SweepModel {
  export interface IOptions {
    /** The calls to the server (tests give their own settings through it). */
    api: SweepAPI;
    id: string;
    /** Poll interval (ms) while points are active; it backs off while nothing changes. */
    interval?: number;
    /** The longest the poll waits between two loads (ms). */
    max?: number;
  }
}

/**
 * One sweep, kept current while any of its points is active: a Poll (backoff, standby while
 * the page is hidden) that stops once the sweep reached a final state. Job events of its points
 * ask for a load at once (`refresh`).
 */
export class SweepModel {
  constructor(options: SweepModel.IOptions) {
    this.api = options.api;
    this.id = options.id;
    this._poll = new Poll({
      auto: false,
      factory: () => this._load(),
      frequency: {
        interval: options.interval ?? 2000,
        backoff: true,
        max: options.max ?? 30000
      },
      name: `swan-ml-ext:sweep:${options.id}`,
      standby: 'when-hidden'
    });
  }

  readonly api: SweepAPI;
  readonly id: string;

  /** The sweep as last loaded (null before the first answer). */
  get sweep(): ISweep | null {
    return this._sweep;
  }

  /** Why the last load failed ('' when it did not). */
  get error(): string {
    return this._error;
  }

  /** Whether the sweep reached a final state (nothing left to follow). */
  get isFinal(): boolean {
    return !!this._sweep && FINAL_SWEEP_STATES.has(this._sweep.state);
  }

  /** Whether the poll is following the sweep. */
  get isPolling(): boolean {
    return this._polling;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** Load now and follow the sweep until it is final. */
  start(): Promise<void> {
    this._polling = true;
    void this._poll.start();
    return this._poll.tick.then(() => undefined);
  }

  /** Load now (a point changed); starts following again if the sweep was final. */
  refresh(): Promise<void> {
    if (this.isDisposed) {
      return Promise.resolve();
    }
    if (!this._polling) {
      return this.start();
    }
    return this._poll.refresh().then(() => undefined);
  }

  /**
   * Load once `delay` ms have passed, however many points changed meanwhile (a burst of job
   * events from a large sweep is one load).
   */
  refreshSoon(delay = 300): void {
    if (this._soon || this.isDisposed) {
      return;
    }
    this._soon = window.setTimeout(() => {
      this._soon = 0;
      void this.refresh().catch(() => undefined);
    }, delay);
  }

  /** Cancel every active point. */
  async cancel(): Promise<void> {
    this._set(await this.api.cancel(this.id));
  }

  /** Run the failed (and cancelled) points again, and follow them. */
  async resubmit(): Promise<void> {
    this._set(await this.api.resubmit(this.id));
  }

  /** Fetch the results table as CSV (with the server settings) and save it. */
  downloadCsv(filename = `${this._sweep?.name || this.id}.csv`): Promise<void> {
    return this.api.downloadCsv(this.id, filename);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._soon);
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _load(): Promise<void> {
    try {
      const sweep = await this.api.get(this.id);
      this._error = '';
      this._set(sweep);
    } catch (reason: any) {
      this._error = reason?.message ?? String(reason);
      this._changed.emit();
      throw reason; // the poll backs off
    }
  }

  private _set(sweep: ISweep): void {
    if (this.isDisposed) {
      return;
    }
    this._sweep = sweep;
    this._changed.emit();
    if (this.isFinal && this._polling) {
      this._polling = false;
      void this._poll.stop();
    } else if (!this.isFinal && !this._polling) {
      // a resubmission brought points back: follow them again
      void this.start();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _error = '';
  private _poll: Poll;
  private _polling = false;
  private _soon = 0;
  private _sweep: ISweep | null = null;
}
