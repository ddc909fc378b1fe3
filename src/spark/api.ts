/**
 * The Spark part of the swan-ml-ext REST API (`{base}swan-ml-ext/spark/...`): its types and
 * calls, all through the one `requestAPI`.
 */
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from '../api';

export type SparkKind = 'classic' | 'connect';

/** A profile as `GET spark/profiles` publishes it. */
export interface ISparkProfile {
  name: string;
  description?: string;
  kind: SparkKind;
  master?: string;
  remote?: string;
  gpu?: Record<string, unknown> | null;
  /** What the server found worth saying about the profile (e.g. RAPIDS not installed). */
  notes?: string[];
  [key: string]: unknown;
}

export interface ISparkProfiles {
  profiles: ISparkProfile[];
  default: string;
}

export interface ISparkSummary {
  jobs_running: number;
  jobs_total: number;
  tasks_total: number;
  tasks_done: number;
  tasks_active: number;
}

export interface ISparkSession {
  id: string;
  kind: SparkKind;
  source: 'kernel' | 'job';
  kernel_id: string | null;
  job_id: string | null;
  profile: string;
  app_id: string | null;
  app_name: string;
  master: string;
  state: 'active' | 'ended';
  registered_at: string;
  /** Relative to the server's base URL: `swan-ml-ext/spark/ui/<sid>/jobs/`. */
  ui_path: string;
  summary: ISparkSummary;
}

export type SparkJobStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'UNKNOWN';

export interface ISparkJob {
  job_id: number;
  name: string;
  description: string;
  status: SparkJobStatus;
  cell_id: string | null;
  num_tasks: number;
  num_completed_tasks: number;
  num_active_tasks: number;
  num_failed_tasks: number;
  num_killed_tasks: number;
  stage_ids: number[];
  submission_time: string | null;
  completion_time: string | null;
}

export interface ISparkCellJobs {
  cell_id: string;
  job_ids: number[];
}

export interface ISparkJobs {
  jobs: ISparkJob[];
  cells: ISparkCellJobs[];
  updated_at: string;
}

export interface ISparkStage {
  stage_id: number;
  attempt_id: number;
  name: string;
  status: string;
  num_tasks: number;
  num_complete_tasks: number;
  num_active_tasks: number;
  num_failed_tasks: number;
}

export interface ISparkExecutor {
  id: string;
  host_port: string;
  is_active: boolean;
  total_cores: number;
  /** Bytes. */
  max_memory: number;
  active_tasks: number;
  completed_tasks: number;
  /** Resource name (`gpu`) -> the addresses this executor holds. */
  resources: Record<string, string[]>;
}

/** What `POST spark/sessions` takes: a profile connect, or (no profile) "look at the kernel". */
export interface ISparkConnectRequest {
  kernel_id: string;
  profile?: string;
  conf?: Record<string, string>;
}

const enc = encodeURIComponent;

/** The REST calls of the Spark API, bound to one server. */
export class SparkAPI {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  profiles(): Promise<ISparkProfiles> {
    return this._get('spark/profiles');
  }

  async sessions(): Promise<ISparkSession[]> {
    return (await this._get<{ sessions: ISparkSession[] }>('spark/sessions'))
      .sessions;
  }

  session(id: string): Promise<ISparkSession> {
    return this._get(`spark/sessions/${enc(id)}`);
  }

  jobs(id: string): Promise<ISparkJobs> {
    return this._get(`spark/sessions/${enc(id)}/jobs`);
  }

  async stages(id: string): Promise<ISparkStage[]> {
    return (
      await this._get<{ stages: ISparkStage[] }>(
        `spark/sessions/${enc(id)}/stages`
      )
    ).stages;
  }

  async executors(id: string): Promise<ISparkExecutor[]> {
    return (
      await this._get<{ executors: ISparkExecutor[] }>(
        `spark/sessions/${enc(id)}/executors`
      )
    ).executors;
  }

  /** 201 with the session (profile connect) or 202 (the server will look at the kernel). */
  connect(request: ISparkConnectRequest): Promise<ISparkSession | unknown> {
    return requestAPI(
      'spark/sessions',
      { method: 'POST', body: JSON.stringify(request) },
      this.serverSettings
    );
  }

  async stop(id: string): Promise<void> {
    await requestAPI(
      `spark/sessions/${enc(id)}`,
      { method: 'DELETE' },
      this.serverSettings
    );
  }

  async kill(id: string, jobId: number): Promise<void> {
    await requestAPI(
      `spark/sessions/${enc(id)}/jobs/${jobId}/kill`,
      { method: 'POST' },
      this.serverSettings
    );
  }

  private _get<T>(path: string): Promise<T> {
    return requestAPI<T>(path, {}, this.serverSettings);
  }
}

/**
 * Parse "extra conf" text, one `key=value` a line (blank lines and `#` comments skipped).
 * Throws an Error naming the first line that is not `key=value`; the server checks the rest.
 */
export function parseConfLines(text: string): Record<string, string> {
  const conf: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw new Error(`line ${i + 1}: expected key=value, got "${line}"`);
    }
    conf[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  return conf;
}
