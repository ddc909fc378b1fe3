import { ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { ISparkProfiles, ISparkSession, SparkAPI } from './api';
import type {
  ISparkDetails,
  ISparkEvent,
  ISparkModel,
  SparkPart
} from './tokens';

export namespace SparkModel {
  export interface IOptions {
    serverSettings?: ServerConnection.ISettings;
    /** The API calls (tests and other servers may give their own). */
    api?: SparkAPI;
    /** Poll interval (ms) while a job runs; events usually come sooner. */
    fastInterval?: number;
    /** Poll interval (ms) while no job runs. */
    slowInterval?: number;
  }
}

/** Whether any active session has a running job. */
export function anyRunning(sessions: readonly ISparkSession[]): boolean {
  return sessions.some(
    s => s.state === 'active' && s.summary?.jobs_running > 0
  );
}

/**
 * All Spark sessions of the server and the details of those a view shows, kept current by the
 * server's events with a Poll as fallback: fast while a job runs, slow while idle, backing off
 * while the server does not answer, standing by while the page is hidden.
 */
export class SparkModel implements ISparkModel {
  constructor(options: SparkModel.IOptions = {}) {
    this.api = options.api ?? new SparkAPI(options.serverSettings);
    this.fastInterval = options.fastInterval ?? 1000;
    this.slowInterval = options.slowInterval ?? 10000;
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: this.slowInterval, backoff: true, max: 60000 },
      name: 'swan-ml-ext:spark',
      standby: 'when-hidden'
    });
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', this._onVisible);
    }
  }

  readonly api: SparkAPI;
  readonly fastInterval: number;
  readonly slowInterval: number;

  get sessions(): readonly ISparkSession[] {
    return this._sessions;
  }

  get serverError(): string | null {
    return this._serverError;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** The poll's current interval (ms): fast while a job runs, else slow. */
  get interval(): number {
    return this._poll.frequency.interval;
  }

  session(id: string): ISparkSession | undefined {
    return this._sessions.find(s => s.id === id);
  }

  sessionOfKernel(kernelId: string): ISparkSession | undefined {
    return this._sessions.find(
      s => s.kernel_id === kernelId && s.state === 'active'
    );
  }

  details(id: string): ISparkDetails | undefined {
    return this._details.get(id);
  }

  watch(id: string, parts: readonly SparkPart[]): IDisposable {
    const counts = this._watched.get(id) ?? new Map<SparkPart, number>();
    this._watched.set(id, counts);
    const added = parts.filter(p => !counts.get(p));
    parts.forEach(p => counts.set(p, (counts.get(p) ?? 0) + 1));
    if (added.length) {
      void this._loadQuietly(id);
    }
    return new DisposableDelegate(() => {
      parts.forEach(p => {
        const n = (counts.get(p) ?? 1) - 1;
        if (n > 0) {
          counts.set(p, n);
        } else {
          counts.delete(p);
        }
      });
      if (!counts.size) {
        this._watched.delete(id);
      }
    });
  }

  /** The parts of a session some view watches. */
  watchedParts(id: string): SparkPart[] {
    return Array.from(this._watched.get(id)?.keys() ?? []);
  }

  /** Start polling (first load at once). */
  start(): Promise<void> {
    this._started = true;
    void this._poll.start();
    return this._poll.tick.then(() => undefined);
  }

  /** Sessions, then the watched details that may have changed. */
  async refresh(): Promise<void> {
    let sessions: ISparkSession[];
    try {
      sessions = await this.api.sessions();
      this._serverError = null;
    } catch (reason: any) {
      this._serverError = reason?.message ?? String(reason);
      this._changed.emit();
      throw reason;
    }
    const stale = this._setSessions(sessions);
    await Promise.all(stale.map(id => this._loadQuietly(id)));
    this._changed.emit();
  }

  /** An event from the server's event bus: reload that session (and its watched details). */
  async onEvent(event: ISparkEvent): Promise<void> {
    if (isHidden()) {
      // Nobody sees the page: the poll (standing by) reloads once it is shown again.
      this._missed = true;
      return;
    }
    this._lastEvent = Date.now();
    const known = this.session(event.session_id);
    if (!known || event.change === 'registered') {
      await this.refresh();
      return;
    }
    let fresh: ISparkSession;
    try {
      fresh = await this.api.session(event.session_id);
    } catch {
      await this.refresh();
      return;
    }
    this._sessions = this._sessions.map(s => (s.id === fresh.id ? fresh : s));
    this._summaries.set(fresh.id, summaryKey(fresh));
    this._cadence(true);
    this._changed.emit();
    await this._loadQuietly(fresh.id);
  }

  profiles(): Promise<ISparkProfiles> {
    return this.api.profiles();
  }

  async connect(
    kernelId: string,
    profile: string,
    conf: Record<string, string> = {}
  ): Promise<ISparkSession | null> {
    const session = await this.api.connect({
      kernel_id: kernelId,
      profile,
      conf
    });
    await this.refresh().catch(() => undefined);
    return isSession(session) ? session : null;
  }

  async attach(kernelId: string): Promise<void> {
    await this.api.connect({ kernel_id: kernelId });
  }

  async stop(id: string): Promise<void> {
    await this.api.stop(id);
    await this.refresh().catch(() => undefined);
  }

  async kill(id: string, jobId: number): Promise<void> {
    await this.api.kill(id, jobId);
    await this._loadQuietly(id);
  }

  dispose(): void {
    if (typeof document !== 'undefined') {
      document.removeEventListener('visibilitychange', this._onVisible);
    }
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    if (Date.now() - this._lastEvent < this.fastInterval) {
      // Events are coming: they keep the model current, the poll is only their fallback.
      return;
    }
    this._polling = true;
    try {
      await this.refresh();
    } finally {
      this._polling = false;
      this._cadence(false);
    }
  }

  /** Fast while a job runs, else slow; switching to fast outside a tick polls soon. */
  private _cadence(reschedule: boolean): void {
    const interval = anyRunning(this._sessions)
      ? this.fastInterval
      : this.slowInterval;
    if (interval === this._poll.frequency.interval) {
      return;
    }
    this._poll.frequency = { ...this._poll.frequency, interval };
    if (reschedule && !this._polling && this._started) {
      void this._poll.schedule({ interval, phase: 'refreshed' });
    }
  }

  /** Apply a sessions list; returns the watched sessions whose details need a reload. */
  private _setSessions(sessions: ISparkSession[]): string[] {
    const now = Date.now();
    const stale: string[] = [];
    for (const s of sessions) {
      const key = summaryKey(s);
      const changed = this._summaries.get(s.id) !== key;
      this._summaries.set(s.id, key);
      const loaded = this._loadedAt.get(s.id);
      const old = loaded === undefined || now - loaded >= this.slowInterval;
      if (
        this._watched.has(s.id) &&
        (changed || !this._details.has(s.id) || (s.state === 'active' && old))
      ) {
        stale.push(s.id);
      }
    }
    const ids = new Set(sessions.map(s => s.id));
    for (const id of Array.from(this._details.keys())) {
      if (!ids.has(id)) {
        this._details.delete(id);
        this._summaries.delete(id);
        this._loadedAt.delete(id);
      }
    }
    this._sessions = sessions;
    this._cadence(true);
    return stale;
  }

  /** Load a session's watched details; one load at a time per session, repeated if asked again. */
  private async _loadQuietly(id: string): Promise<void> {
    const running = this._loading.get(id);
    if (running) {
      this._again.add(id);
      return running;
    }
    const load = (async () => {
      do {
        this._again.delete(id);
        await this._load(id);
      } while (this._again.has(id));
    })().finally(() => this._loading.delete(id));
    this._loading.set(id, load);
    return load;
  }

  private async _load(id: string): Promise<void> {
    const parts = this.watchedParts(id);
    if (!parts.length) {
      return;
    }
    const details: ISparkDetails = { ...this._details.get(id), error: null };
    try {
      await Promise.all([
        this.api.jobs(id).then(j => {
          details.jobs = j.jobs;
          details.cells = j.cells;
        }),
        parts.includes('stages')
          ? this.api.stages(id).then(s => (details.stages = s))
          : null,
        parts.includes('executors')
          ? this.api.executors(id).then(e => (details.executors = e))
          : null
      ]);
    } catch (reason: any) {
      details.error = reason?.message ?? String(reason);
    }
    this._details.set(id, details);
    this._loadedAt.set(id, Date.now());
    this._changed.emit();
  }

  /** Shown again after events were missed: reload now rather than at the next slow tick. */
  private _onVisible = (): void => {
    if (!isHidden() && this._missed && this._started) {
      this._missed = false;
      void this._poll.refresh();
    }
  };

  private _again = new Set<string>();
  private _lastEvent = 0;
  private _missed = false;
  private _changed = new Signal<this, void>(this);
  private _details = new Map<string, ISparkDetails>();
  private _loadedAt = new Map<string, number>();
  private _loading = new Map<string, Promise<void>>();
  private _poll: Poll;
  private _polling = false;
  private _serverError: string | null = null;
  private _sessions: ISparkSession[] = [];
  private _started = false;
  private _summaries = new Map<string, string>();
  private _watched = new Map<string, Map<SparkPart, number>>();
}

function isHidden(): boolean {
  return (
    typeof document !== 'undefined' && document.visibilityState === 'hidden'
  );
}

function summaryKey(s: ISparkSession): string {
  return `${s.state}|${JSON.stringify(s.summary ?? {})}`;
}

function isSession(value: unknown): value is ISparkSession {
  return !!value && typeof (value as ISparkSession).id === 'string';
}
