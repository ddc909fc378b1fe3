import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  FINAL_STATES,
  IBackend,
  IBackends,
  IJob,
  IJobList,
  IJobPreview,
  IJobRequest,
  JobState,
  requestAPI
} from './api';
import type { IJobChange, IJobLogs, IJobsModel, JobAction } from './tokens';

export type { IJobChange } from './tokens';

export interface IJobFilter {
  state: JobState | '';
  backend: string;
  text: string;
}

/**
 * Whether a job matches a filter; `text` is the filter's text trimmed and lower-cased (once
 * for a whole list).
 */
export function jobMatches(
  j: IJob,
  filter: IJobFilter,
  text = filter.text.trim().toLowerCase()
): boolean {
  return (
    (!filter.state || j.state === filter.state) &&
    (!filter.backend || j.backend === filter.backend) &&
    (!text ||
      j.name.toLowerCase().includes(text) ||
      j.notebook.toLowerCase().includes(text) ||
      j.id.includes(text) ||
      j.message.toLowerCase().includes(text))
  );
}

/** Jobs matching a filter, in the given (newest first) order. */
export function filterJobs(jobs: readonly IJob[], filter: IJobFilter): IJob[] {
  const text = filter.text.trim().toLowerCase();
  return jobs.filter(j => jobMatches(j, filter, text));
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) {
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  if (m) {
    return `${m} min ${String(r).padStart(2, '0')} s`;
  }
  return `${r} s`;
}

/** How long a job ran (or has been running, or waiting). */
export function jobDuration(job: IJob, now = Date.now()): string {
  const start = Date.parse(job.started_at ?? job.created_at);
  const end = job.finished_at ? Date.parse(job.finished_at) : now;
  return formatDuration((end - start) / 1000);
}

export namespace JobsModel {
  export interface IOptions {
    serverSettings?: ServerConnection.ISettings;
    /** Poll interval (ms); the poll backs off while the server does not answer. */
    interval?: number;
    /** The most jobs loaded into the monitor. */
    maxJobs?: number;
  }
}

/**
 * All jobs of every backend, newest first, kept current by the server's event bus with a
 * Poll as fallback (backoff, standby when the page is hidden).
 */
export class JobsModel implements IJobsModel {
  constructor(options: JobsModel.IOptions = {}) {
    this.serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this._maxJobs = options.maxJobs ?? 20000;
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: {
        interval: options.interval ?? 5000,
        backoff: true,
        max: 60000
      },
      name: 'swan-ml-ext:jobs',
      standby: 'when-hidden'
    });
  }

  readonly serverSettings: ServerConnection.ISettings;

  get jobs(): readonly IJob[] {
    return this._jobs;
  }

  get backends(): IBackends | null {
    return this._backends;
  }

  /** Why the server extension cannot be reached, once it failed. */
  get serverError(): string | null {
    return this._serverError;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** One job changed state (from the event bus or a poll). */
  get jobChanged(): ISignal<this, IJobChange> {
    return this._jobChanged;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  job(id: string): IJob | undefined {
    return this._byId.get(id);
  }

  backend(name: string): IBackend | undefined {
    return this._backends?.backends.find(b => b.name === name);
  }

  /** Start polling (first load at once). */
  start(): Promise<void> {
    void this._poll.start();
    return this._poll.tick.then(() => undefined);
  }

  /** Set the fallback poll interval (settings). */
  setInterval(ms: number): void {
    this._poll.frequency = { ...this._poll.frequency, interval: ms };
  }

  async loadBackends(): Promise<IBackends> {
    this._backends = await requestAPI<IBackends>(
      'backends',
      {},
      this.serverSettings
    );
    this._changed.emit();
    return this._backends;
  }

  /** Full load the first time; then only what can change (active and new jobs). */
  async refresh(): Promise<void> {
    try {
      if (!this._loaded) {
        await this._loadAll();
        this._loaded = true;
      } else {
        await this._loadChanges();
      }
      this._serverError = null;
    } catch (reason: any) {
      this._serverError = reason?.message ?? String(reason);
      this._changed.emit();
      throw reason;
    }
    this._changed.emit();
  }

  /** A state-change event from the server's event bus. */
  async onEvent(data: { id: string }): Promise<void> {
    const job = await this.fetchJob(data.id);
    this._merge([job]);
    this._changed.emit();
  }

  async fetchJob(id: string): Promise<IJob> {
    return requestAPI<IJob>(
      `jobs/${encodeURIComponent(id)}`,
      {},
      this.serverSettings
    );
  }

  async submit(request: IJobRequest): Promise<IJob> {
    const job = await requestAPI<IJob>(
      'jobs',
      { method: 'POST', body: JSON.stringify(request) },
      this.serverSettings
    );
    this._merge([job]);
    this._changed.emit();
    return job;
  }

  async preview(request: IJobRequest): Promise<IJobPreview> {
    return requestAPI<IJobPreview>(
      'jobs/preview',
      { method: 'POST', body: JSON.stringify(request) },
      this.serverSettings
    );
  }

  async act(id: string, action: JobAction): Promise<IJob> {
    const path = `jobs/${encodeURIComponent(id)}`;
    const job = await requestAPI<IJob>(
      action === 'cancel' ? path : `${path}/${action}`,
      { method: action === 'cancel' ? 'DELETE' : 'POST' },
      this.serverSettings
    );
    this._merge([job]);
    this._changed.emit();
    return job;
  }

  async logs(id: string, tail = 200): Promise<IJobLogs> {
    return requestAPI(
      `jobs/${encodeURIComponent(id)}/logs?tail=${tail}`,
      {},
      this.serverSettings
    );
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Every page of a listing (up to maxJobs), newest first. */
  private async _allPages(query: string): Promise<IJob[]> {
    const jobs: IJob[] = [];
    let token: string | null = null;
    do {
      const page: IJobList = await requestAPI<IJobList>(
        query + (token ? `&page_token=${token}` : ''),
        {},
        this.serverSettings
      );
      jobs.push(...page.jobs);
      token = page.next_page_token;
    } while (token && jobs.length < this._maxJobs);
    return jobs;
  }

  private async _loadAll(): Promise<void> {
    const jobs = await this._allPages('jobs?limit=500');
    this._jobs = jobs;
    this._byId = new Map(jobs.map(j => [j.id, j]));
    this._states = new Map(jobs.map(j => [j.id, j.state]));
  }

  private async _loadChanges(): Promise<void> {
    const [active, newest] = await Promise.all([
      this._allPages('jobs?limit=500&state=pending,running,held'),
      requestAPI<IJobList>('jobs?limit=50', {}, this.serverSettings)
    ]);
    const seen = new Set(active.map(j => j.id));
    // Jobs we knew as active that are not any more: fetch their final record.
    const left = this._jobs.filter(
      j => !FINAL_STATES.has(j.state) && !seen.has(j.id)
    );
    const finished = await Promise.all(left.map(j => this.fetchJob(j.id)));
    this._merge([...active, ...newest.jobs, ...finished]);
  }

  private _merge(jobs: IJob[]): void {
    let added = false;
    for (const job of jobs) {
      const old = this._byId.get(job.id);
      if (old) {
        Object.assign(old, job);
      } else {
        this._byId.set(job.id, job);
        this._jobs.push(job);
        added = true;
      }
      const previous = this._states.get(job.id) ?? null;
      this._states.set(job.id, job.state);
      if (previous !== job.state) {
        this._jobChanged.emit({ job: this._byId.get(job.id)!, previous });
      }
    }
    if (added) {
      this._jobs.sort((a, b) => b.created_at.localeCompare(a.created_at));
    }
  }

  private _backends: IBackends | null = null;
  private _byId = new Map<string, IJob>();
  private _changed = new Signal<this, void>(this);
  private _jobChanged = new Signal<this, IJobChange>(this);
  private _jobs: IJob[] = [];
  private _loaded = false;
  private _maxJobs: number;
  private _poll: Poll;
  private _serverError: string | null = null;
  private _states = new Map<string, JobState>();
}
