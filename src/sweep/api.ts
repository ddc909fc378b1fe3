/**
 * The sweeps part of the swan-ml-ext REST API (`{base}swan-ml-ext/sweeps/...`): one notebook
 * over a grid of parameters, each point an ordinary job. Types and calls, all through the one
 * `requestAPI`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IJob, IJobRequest, JobState, requestAPI } from '../api';

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

/** Which sweep a job is a point of (null or absent for a plain job). */
export interface ISweepRef {
  id: string;
  point: number;
}

/** A job as `GET jobs` lists it, with the sweep fields (issue 12). */
export type ISweepJob = IJob & {
  sweep?: ISweepRef | null;
  collected?: Record<string, unknown> | null;
};

/** The sweep a job belongs to, if any. */
export function sweepOf(job: IJob): ISweepRef | null {
  const ref = (job as ISweepJob).sweep;
  return ref && typeof ref.id === 'string' ? ref : null;
}

export class SweepAPI {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  list(limit = 100): Promise<ISweepList> {
    return requestAPI<ISweepList>(
      `sweeps?limit=${limit}`,
      {},
      this.serverSettings
    );
  }

  get(id: string): Promise<ISweep> {
    return requestAPI<ISweep>(this._path(id), {}, this.serverSettings);
  }

  submit(request: ISweepRequest): Promise<ISweep> {
    return requestAPI<ISweep>(
      'sweeps',
      { method: 'POST', body: JSON.stringify(request) },
      this.serverSettings
    );
  }

  /** Cancel every active point. */
  cancel(id: string): Promise<ISweep> {
    return requestAPI<ISweep>(
      this._path(id),
      { method: 'DELETE' },
      this.serverSettings
    );
  }

  /** Run the failed and cancelled points again (409 when there are none). */
  resubmit(id: string): Promise<ISweep> {
    return requestAPI<ISweep>(
      `${this._path(id)}/resubmit`,
      { method: 'POST' },
      this.serverSettings
    );
  }

  /** Where the table downloads as CSV (a plain GET: a link's href). */
  csvUrl(id: string): string {
    return (
      URLExt.join(this.serverSettings.baseUrl, 'swan-ml-ext', this._path(id)) +
      '?format=csv'
    );
  }

  private _path(id: string): string {
    return `sweeps/${encodeURIComponent(id)}`;
  }
}
