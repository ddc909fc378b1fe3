/**
 * The sweeps part of the swan-ml-ext REST API (`{base}swan-ml-ext/sweeps/...`): one notebook
 * over a grid of parameters, each point an ordinary job. Types and calls, all through the one
 * `requestAPI`.
 */
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IJob,
  IJobRequest,
  IJobSweepRef,
  JobState,
  requestAPI,
  requestFile
} from '../api';

/** `failed`: every point is done and at least one failed. */
export type SweepState =
  'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export const FINAL_SWEEP_STATES: ReadonlySet<SweepState> = new Set([
  'completed',
  'failed',
  'cancelled'
]);

/** Points by state (a resubmitted point counts once, as its newest attempt). */
export interface ISweepCounts {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Points held by the engine (backends that can hold). */
  held: number;
}

/** One point of the results table: its parameters, collected values and job. */
export interface ISweepRow {
  point: number;
  state: JobState | null;
  job_id: string | null;
  /** The executed notebook in the workspace (null or '' until fetched). */
  notebook: string | null;
  message: string;
  /** The parameters and collected values, by name (see `columns`). */
  [column: string]: unknown;
}

/** `GET sweeps` lists these: a sweep without its table. */
export interface ISweepSummary {
  id: string;
  name: string;
  notebook: string;
  backend: string;
  environment?: string;
  state: SweepState;
  created_at: string;
  finished_at: string | null;
  /** The swept parameter names, in the grid's order. */
  parameters: string[];
  /** The notebook variables brought back from each point. */
  collect: string[];
  counts: ISweepCounts;
  /** What the backend did: one batch submission (condor) or one per point. */
  engine?: { submissions: number; batch: boolean };
  /** What the server found worth saying (e.g. a parameter the notebook does not declare). */
  warnings?: string[];
}

export type SweepColumnKind =
  | 'point'
  | 'parameter'
  | 'state'
  | 'collected'
  | 'job_id'
  | 'notebook'
  | 'message';

/** A column of the table: its label (the rows' key), the name it shows, its kind. */
export interface ISweepColumn {
  label: string;
  name: string;
  kind: SweepColumnKind;
}

/** `GET sweeps/{id}`: the summary and the results table. */
export interface ISweep extends ISweepSummary {
  /** The table's columns in order: point, parameters, state, collected values, job... */
  columns: string[];
  /** Each column's kind (a parameter named like another column has its own label). */
  column_info?: ISweepColumn[];
  /** One per point, in point order, keyed by column label. */
  rows: ISweepRow[];
}

export interface ISweepList {
  sweeps: ISweepSummary[];
  total?: number;
  next_page_token?: string | null;
}

/** A grid (`{"lr": [0.01, 0.02]}`, cartesian) or explicit points. */
export type SweepSpec = Record<string, unknown[]> | Record<string, unknown>[];

/** `POST sweeps`: the body of `POST jobs` plus the sweep and the names to collect. */
export interface ISweepRequest extends IJobRequest {
  sweep: SweepSpec;
  collect?: string[];
}

/** The sweep a job belongs to, if any. */
export function sweepOf(job: IJob): IJobSweepRef | null {
  const ref = job.sweep;
  return ref && typeof ref.id === 'string' ? ref : null;
}

/** A summary without the table (what the known sweeps keep). */
function summaryOf(sweep: ISweepSummary | ISweep): ISweepSummary {
  const summary: Partial<ISweep> = { ...sweep };
  delete summary.columns;
  delete summary.column_info;
  delete summary.rows;
  return summary as ISweepSummary;
}

/**
 * What the server said last about each sweep (every answer of `SweepAPI`: GET sweeps, GET,
 * DELETE and resubmit of one, POST sweeps). The job monitor states a sweep's row with it: a
 * job does not say whether its sweep was cancelled by the user.
 */
export class KnownSweeps {
  /** Anything remembered changed (state, counts, name). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get(id: string): ISweepSummary | undefined {
    return this._sweeps.get(id);
  }

  remember(sweeps: readonly (ISweepSummary | ISweep)[]): void {
    let changed = false;
    for (const sweep of sweeps) {
      const summary = summaryOf(sweep);
      const old = this._sweeps.get(sweep.id);
      if (!old || JSON.stringify(old) !== JSON.stringify(summary)) {
        this._sweeps.set(sweep.id, summary);
        changed = true;
      }
    }
    if (changed) {
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _sweeps = new Map<string, ISweepSummary>();
}

/** The page's known sweeps (shared by every `SweepAPI` unless it is given its own). */
export const knownSweeps = new KnownSweeps();

/**
 * Save a Blob as a file: a temporary `<a download>` on an object URL, revoked once the
 * browser took it (`revokeAfter` ms).
 */
export function saveBlob(
  blob: Blob,
  filename: string,
  revokeAfter = 1000
): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.appendChild(a);
  try {
    a.click();
  } finally {
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), revokeAfter);
  }
}

export class SweepAPI {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings(),
    /** Where every answer is remembered (the page's known sweeps by default). */
    readonly known: KnownSweeps = knownSweeps
  ) {}

  async list(limit = 100): Promise<ISweepList> {
    const list = await requestAPI<ISweepList>(
      `sweeps?limit=${limit}`,
      {},
      this.serverSettings
    );
    this.known.remember(list.sweeps ?? []);
    return list;
  }

  get(id: string): Promise<ISweep> {
    return this._sweep(this._path(id), {});
  }

  submit(request: ISweepRequest): Promise<ISweep> {
    return this._sweep('sweeps', {
      method: 'POST',
      body: JSON.stringify(request)
    });
  }

  /** Cancel every active point. */
  cancel(id: string): Promise<ISweep> {
    return this._sweep(this._path(id), { method: 'DELETE' });
  }

  /** Run the failed and cancelled points again (409 when there are none). */
  resubmit(id: string): Promise<ISweep> {
    return this._sweep(`${this._path(id)}/resubmit`, { method: 'POST' });
  }

  /** The results table as CSV (`?format=csv`), fetched with the server settings. */
  csv(id: string): Promise<Blob> {
    return requestFile(`${this._path(id)}?format=csv`, this.serverSettings);
  }

  /** Fetch the CSV and save it as `filename`. */
  async downloadCsv(id: string, filename: string): Promise<void> {
    saveBlob(await this.csv(id), filename);
  }

  private async _sweep(path: string, init: RequestInit): Promise<ISweep> {
    const sweep = await requestAPI<ISweep>(path, init, this.serverSettings);
    this.known.remember([sweep]);
    return sweep;
  }

  private _path(id: string): string {
    return `sweeps/${encodeURIComponent(id)}`;
  }
}
