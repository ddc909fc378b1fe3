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

export type JobState =
  'pending' | 'running' | 'held' | 'completed' | 'failed' | 'cancelled';

export interface IResources {
  cpus?: number;
  memory_mb?: number;
  gpus?: number;
  disk_mb?: number;
  gpu_memory_mb?: number;
  gpu_capability?: number;
  max_runtime_s?: number;
}

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
  outputs: { folder?: string; notebook?: string | null; files?: string[] };
  /** List pages only: fields left out or cut to keep a page small (GET jobs/{id} has them). */
  truncated?: ('parameters' | 'outputs.files')[];
}

export interface IJobList {
  jobs: IJob[];
  total: number;
  next_page_token: string | null;
}

export interface IBackend {
  name: string;
  available: boolean;
  reason?: string;
  capabilities: Record<string, unknown>;
  resources: Record<string, unknown>;
}

export interface IBackends {
  backends: IBackend[];
  default_backend: string;
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
  idempotency_key?: string;
}

export const FINAL_STATES: ReadonlySet<JobState> = new Set([
  'completed',
  'failed',
  'cancelled'
]);
