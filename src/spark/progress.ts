import type { ISparkJob } from './api';
import type { ISparkDetails } from './tokens';

/** Tasks of one or more jobs. */
export interface ITaskProgress {
  total: number;
  done: number;
  active: number;
  failed: number;
  killed: number;
  /** Tasks of stages Spark skipped (their output was there already): not in `total`. */
  skipped?: number;
}

/**
 * A job's tasks. Spark counts the tasks of skipped stages in `num_tasks`: once a job has
 * succeeded, what did not run was skipped (as the Spark UI shows it: "1/1 (2 skipped)"). Once a
 * job has ended, no task of it is active any more (Spark may still be killing some).
 */
export function jobProgress(job: ISparkJob): ITaskProgress {
  const ran =
    job.num_completed_tasks + job.num_failed_tasks + job.num_killed_tasks;
  const skipped =
    job.status === 'SUCCEEDED' ? Math.max(0, job.num_tasks - ran) : 0;
  return {
    total: job.num_tasks - skipped,
    done: job.num_completed_tasks,
    active: job.status === 'RUNNING' ? job.num_active_tasks : 0,
    failed: job.num_failed_tasks,
    killed: job.num_killed_tasks,
    skipped
  };
}

export function sumProgress(jobs: readonly ISparkJob[]): ITaskProgress {
  const sum: ITaskProgress = {
    total: 0,
    done: 0,
    active: 0,
    failed: 0,
    killed: 0,
    skipped: 0
  };
  for (const job of jobs) {
    const p = jobProgress(job);
    sum.total += p.total;
    sum.done += p.done;
    sum.active += p.active;
    sum.failed += p.failed;
    sum.killed += p.killed;
    sum.skipped = (sum.skipped ?? 0) + (p.skipped ?? 0);
  }
  return sum;
}

/** The percentage of tasks done (0 when there are none). */
export function percentDone(p: ITaskProgress): number {
  return p.total > 0 ? Math.min(100, Math.round((100 * p.done) / p.total)) : 0;
}

/** The jobs one cell started (cellId null: jobs not started from a notebook cell). */
export interface ICellJobs {
  cellId: string | null;
  /** Newest first. */
  jobs: ISparkJob[];
  running: number;
  failed: number;
  progress: ITaskProgress;
}

/**
 * A session's jobs grouped by the cell that started them, the cell with the newest job first.
 * A job's own `cell_id` wins; the server's `cells` grouping fills in where a job has none.
 */
export function groupByCell(
  details: Pick<ISparkDetails, 'jobs' | 'cells'> | undefined
): ICellJobs[] {
  const fromServer = new Map<number, string>();
  for (const cell of details?.cells ?? []) {
    cell.job_ids.forEach(id => fromServer.set(id, cell.cell_id));
  }
  const groups = new Map<string | null, ISparkJob[]>();
  const jobs = [...(details?.jobs ?? [])].sort((a, b) => b.job_id - a.job_id);
  for (const job of jobs) {
    const cellId = job.cell_id ?? fromServer.get(job.job_id) ?? null;
    const list = groups.get(cellId) ?? [];
    list.push(job);
    groups.set(cellId, list);
  }
  return Array.from(groups, ([cellId, list]) => ({
    cellId,
    jobs: list,
    running: list.filter(j => j.status === 'RUNNING').length,
    failed: list.filter(j => j.status === 'FAILED').length,
    progress: sumProgress(list)
  }));
}

/** "1.5 GiB", "512 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.max(0, bytes);
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  const text = value >= 10 || i === 0 ? value.toFixed(0) : value.toFixed(1);
  return `${text} ${units[i]}`;
}
