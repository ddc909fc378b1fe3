import { IJob } from '../api';

/** A job as the REST API returns it; `created_at` orders jobs by their numeric id. */
export function makeJob(id: string, over: Partial<IJob> = {}): IJob {
  const n = Number(id) || 0;
  const mm = String(Math.floor(n / 60) % 60).padStart(2, '0');
  const ss = String(n % 60).padStart(2, '0');
  return {
    id,
    name: `job ${id}`,
    backend: 'condor',
    state: 'running',
    notebook: `nb/${id}.ipynb`,
    parameters: {},
    resources: { cpus: 2, memory_mb: 1024, gpus: 1 },
    environment: 'default',
    engine_ref: {
      cluster_id: 7,
      execute_host: 'slot1@node',
      assigned_gpus: 'GPU-1'
    },
    message: '',
    progress: { cells_done: 2, cells_total: 5 },
    created_at: `2026-11-28T1${Math.floor(n / 3600)}:${mm}:${ss}.000Z`,
    started_at: null,
    finished_at: null,
    outputs: {},
    ...over
  };
}
