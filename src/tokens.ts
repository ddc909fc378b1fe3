import type { ServerConnection } from '@jupyterlab/services';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type {
  IBackend,
  IBackends,
  IJob,
  IJobPreview,
  IJobRequest,
  JobState
} from './api';

/** One job changed state (`previous` is null for a job seen for the first time). */
export interface IJobChange {
  job: IJob;
  previous: JobState | null;
}

/** A job action; each needs its backend's capability of the same name. */
export type JobAction = 'cancel' | 'hold' | 'release';

/** What a job's logs read so far. */
export interface IJobLogs {
  stdout: string;
  stderr: string;
  live: boolean;
}

/**
 * The jobs of every backend, kept up to date, and what the backends publish about
 * themselves (capabilities, resource schema, engine reference labels). The submit dialog,
 * the job monitor and the notifications use only this interface.
 */
export interface IJobsModel {
  /** Where the server is: every call of the model (and of the dialogs it opens) goes there. */
  readonly serverSettings: ServerConnection.ISettings;
  /** All loaded jobs, newest first. */
  readonly jobs: readonly IJob[];
  /** What `GET backends` said last (null before the first answer). */
  readonly backends: IBackends | null;
  /** Why the server extension cannot be reached, once it failed. */
  readonly serverError: string | null;
  /** Anything changed: jobs, backends or the server error. */
  readonly changed: ISignal<IJobsModel, void>;
  /** One job changed state. */
  readonly jobChanged: ISignal<IJobsModel, IJobChange>;
  readonly isDisposed: boolean;

  /** A loaded job. */
  job(id: string): IJob | undefined;
  /** A backend as last published (undefined when unknown or not loaded yet). */
  backend(name: string): IBackend | undefined;
  /** Ask the server for its backends again (the dialog does, before it opens). */
  loadBackends(): Promise<IBackends>;
  /** The whole job from the server (list pages may leave fields out). */
  fetchJob(id: string): Promise<IJob>;
  submit(request: IJobRequest): Promise<IJob>;
  /**
   * What submitting this request would hand to the engine, submitting nothing (checked as a
   * submission is). Optional: the dialog offers a preview only with it.
   */
  preview?(request: IJobRequest): Promise<IJobPreview>;
  act(id: string, action: JobAction): Promise<IJob>;
  logs(id: string, tail?: number): Promise<IJobLogs>;
}

/**
 * The one token of swan-ml-ext: the jobs model shared by the submit dialog, the job
 * monitor and the notifications. Another extension can require it to follow or submit
 * jobs, or provide its own implementation.
 */
export const IJobsModel = new Token<IJobsModel>(
  'swan-ml-ext:IJobsModel',
  'The swan-ml-ext jobs model: jobs of every backend, kept up to date, and what each backend can do.'
);

export const PLUGIN_ID = 'swan-ml-ext:plugin';

export namespace CommandIDs {
  export const runOnBatch = 'swan-ml-ext:run-on-batch';
  export const openMonitor = 'swan-ml-ext:open-monitor';
  export const resubmit = 'swan-ml-ext:resubmit';
}

/** The event schema the server emits on every job state change. */
export const EVENT_SCHEMA_ID =
  'https://events.jupyter.org/swan_ml_ext/job_state/v1';
