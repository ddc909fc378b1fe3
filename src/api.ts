import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The one way the frontend talks to the swan-ml-ext server extension. */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'swan-ml-ext', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      console.error('swan-ml-ext: not a JSON response', text);
    }
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, data?.message ?? text);
  }
  return data as T;
}

/**
 * A file the server extension serves (e.g. a CSV), fetched like every other call (the
 * settings' token header, not only the page's cookie) and handed back as a Blob.
 */
export async function requestFile(
  endPoint: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Blob> {
  const url = URLExt.join(settings.baseUrl, 'swan-ml-ext', endPoint);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    const text = await response.text();
    let message = text;
    try {
      message = JSON.parse(text)?.message ?? text;
    } catch (error) {
      // not JSON: the text says why
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  return response.blob();
}

export type JobState =
  'pending' | 'running' | 'held' | 'completed' | 'failed' | 'cancelled';

/**
 * The `resources` of a job: field names and values as the backend's `resource_schema`
 * describes them (they differ between backends).
 */
export type IResources = Record<string, unknown>;

export interface IJob {
  id: string;
  name: string;
  backend: string;
  state: JobState;
  notebook: string;
  parameters: Record<string, unknown>;
  resources: IResources;
  environment: string;
  engine_ref: Record<string, unknown>;
  message: string;
  progress: { cells_done?: number; cells_total?: number };
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  outputs: {
    folder?: string;
    notebook?: string | null;
    files?: string[];
    /** A failed job: the root-relative paths it lacked (add them to `inputs`). */
    suggested_inputs?: string[];
  };
  /** The files and folders sent with the job (root-relative). */
  inputs?: string[];
  /** The sweep this job is a point of (null for a plain job). */
  sweep?: IJobSweepRef | null;
  /**
   * A sweep point's notebook variables brought back once it finished (by name; null or
   * absent before, and for a plain job).
   */
  collected?: Record<string, unknown> | null;
  /** List pages only: fields left out or cut to keep a page small (GET jobs/{id} has them). */
  truncated?: ('parameters' | 'outputs.files' | 'collected')[];
}

/** Which sweep a job is a point of, and which point (0-based, in the sweep's order). */
export interface IJobSweepRef {
  id: string;
  point: number;
}

export interface IJobList {
  jobs: IJob[];
  total: number;
  next_page_token: string | null;
}

/** What a backend can do; the UI offers only what its backend says it can. */
export interface IBackendCapabilities {
  cancel?: boolean;
  hold?: boolean;
  release?: boolean;
  /** Logs can be read while the job runs (else once it has finished). */
  live_logs?: boolean;
  /** Jobs report cell progress. */
  progress?: boolean;
  [name: string]: boolean | undefined;
}

/** One field of a resource schema (a JSON Schema with an optional `x-unit`). */
export interface IResourceField {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: unknown[];
  /** The unit a form shows beside the title ("MB", "s"). */
  'x-unit'?: string;
  [keyword: string]: unknown;
}

/** JSON Schema (draft 2020-12) of the `resources` object a backend accepts. */
export interface IResourceSchema {
  type: 'object';
  title?: string;
  description?: string;
  properties: Record<string, IResourceField>;
  required?: string[];
  [keyword: string]: unknown;
}

/** How to show one `engine_ref` key of a backend's jobs: `label value`. */
export interface IEngineRefLabel {
  key: string;
  label: string;
}

/**
 * One GPU model of a backend's pool (`resources.gpu_types` in GET backends): how many the
 * pool has and how many are free now; memory and compute capability where it says.
 */
export interface IGpuType {
  name: string;
  total?: number;
  free?: number;
  memory_mb?: number | null;
  capability?: number | string | null;
}

export interface IBackend {
  name: string;
  title?: string;
  available: boolean;
  reason?: string;
  capabilities: IBackendCapabilities;
  resource_schema: IResourceSchema;
  /** The engine_ref keys worth showing, in order; other keys are not shown. */
  engine_ref_labels: IEngineRefLabel[];
  /** What is free now (e.g. `gpus_free`, `gpus_total`, `gpu_types`). */
  resources: Record<string, unknown>;
  stats?: Record<string, number>;
}

export interface IBackends {
  backends: IBackend[];
  default_backend: string;
  default_environment?: string;
  environments: { name: string; kernels: string[]; description?: string }[];
  limits: Record<string, number>;
}

export interface IJobRequest {
  notebook: string;
  backend?: string;
  parameters?: Record<string, unknown>;
  resources?: IResources;
  environment?: string;
  name?: string;
  /** Files and folders sent with the job (root-relative; folders recursively). */
  inputs?: string[];
  idempotency_key?: string;
}

/**
 * A file or folder the server found named in the notebook's code (`detected_inputs` of
 * POST jobs/check and jobs/preview).
 */
export interface IDetectedInput {
  /** Root-relative (absolute for one read in place). */
  path: string;
  kind: 'file' | 'folder';
  bytes: number;
  files: number;
  /** Under a shared filesystem prefix of the environment: read there, never sent. */
  in_place: boolean;
  /** The (1-based) cell that first names it. */
  cell?: number;
  /** Why sending it would be refused, where it would. */
  problem?: string;
}

/**
 * What `POST jobs/preview` answers: what submitting the request would hand to the engine
 * (nothing is submitted), with the request as the server validated it.
 */
export interface IJobPreview {
  backend: string;
  /** How to read `text`: `htcondor-submit`, `kfp-pipeline-yaml`, `text`... */
  format: string;
  text: string;
  notebook: string;
  name: string;
  parameters: Record<string, unknown>;
  /** As validated against the backend's resource schema, defaults filled in. */
  resources: IResources;
  environment: string;
  kernel_name: string;
  inputs: string[];
  /** The job a submission would return instead (same idempotency_key and body). */
  existing_job: string | null;
  /** What the notebook's code reads, as the server found it. */
  detected_inputs?: IDetectedInput[];
}

/**
 * What `POST jobs/check` answers for a request (the body of POST jobs): whether any machine
 * could ever run it and, if not, why in words. Nothing is submitted or created.
 */
export interface IJobCheck {
  feasible: boolean;
  /**
   * Feasible: what will happen ("3 GPUs match (2 free now)"); infeasible: every reason,
   * joined by " · " (as `reasons` lists them).
   */
  message: string;
  /** Infeasible: every requirement no machine meets, in words. */
  reasons: string[];
  /** What matches the request in the pool (null or absent for a backend without machine ads). */
  matching?: { slots: number; gpus: number; gpus_free: number } | null;
  /** Things worth knowing that do not stop the job (e.g. an unknown parameter). */
  warnings: string[];
  /** What the notebook's code reads, as the server found it. */
  detected_inputs?: IDetectedInput[];
}

export const FINAL_STATES: ReadonlySet<JobState> = new Set([
  'completed',
  'failed',
  'cancelled'
]);
