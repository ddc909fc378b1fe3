import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import type {
  ISparkExecutor,
  ISparkJob,
  ISparkProfiles,
  ISparkSession,
  ISparkStage
} from './api';

/** What a view can ask the model to keep current for a session. */
export type SparkPart = 'jobs' | 'stages' | 'executors';

/** What the model last loaded for one session (only the parts someone watches). */
export interface ISparkDetails {
  jobs?: ISparkJob[];
  /** Job ids by the cell that started them, as the server grouped them. */
  cells?: { cell_id: string; job_ids: number[] }[];
  stages?: ISparkStage[];
  executors?: ISparkExecutor[];
  /** Why the last detail load failed (null when it worked). */
  error: string | null;
}

/**
 * The Spark sessions this server knows (kernels and batch jobs) and, for the sessions some
 * view shows, their jobs, stages and executors; one instance for the whole Lab.
 */
export interface ISparkModel {
  readonly sessions: readonly ISparkSession[];
  /** Why the server cannot be reached, once it failed. */
  readonly serverError: string | null;
  /** Sessions or details changed. */
  readonly changed: ISignal<ISparkModel, void>;
  readonly isDisposed: boolean;

  session(id: string): ISparkSession | undefined;
  /** The active session of a kernel, if it has one. */
  sessionOfKernel(kernelId: string): ISparkSession | undefined;
  details(id: string): ISparkDetails | undefined;
  /** Keep these parts of a session current until the returned handle is disposed. */
  watch(id: string, parts: readonly SparkPart[]): IDisposable;

  profiles(): Promise<ISparkProfiles>;
  /** Create `spark` in a kernel from a profile (+ extra conf); rejects with the server's message. */
  connect(
    kernelId: string,
    profile: string,
    conf?: Record<string, string>
  ): Promise<ISparkSession | null>;
  /** The kernel connected itself (`%swan spark connect`): ask the server to look at it. */
  attach(kernelId: string): Promise<void>;
  stop(id: string): Promise<void>;
  kill(id: string, jobId: number): Promise<void>;
  refresh(): Promise<void>;
}

export const ISparkModel = new Token<ISparkModel>(
  'swan-ml-ext:ISparkModel',
  'The Spark sessions of this server with the jobs, stages and executors of those shown.'
);

export namespace SparkCommandIDs {
  export const openUI = 'swan-ml-ext:spark-open-ui';
  export const connect = 'swan-ml-ext:spark-connect';
  export const togglePanel = 'swan-ml-ext:spark-toggle-panel';
}

/** The event the server emits when a session or its jobs change. */
export const SPARK_EVENT_SCHEMA_ID =
  'https://events.jupyter.org/swan_ml_ext/spark/v1';

export interface ISparkEvent {
  session_id: string;
  change: 'registered' | 'jobs' | 'ended';
  jobs_running: number;
}
