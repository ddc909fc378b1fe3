/**
 * The job monitor shows a sweep as one row: its points (jobs with `sweep.id`) grouped, their
 * progress counted from the jobs themselves (job events keep them current).
 */
import { FINAL_STATES, IJob } from '../api';
import { ISweepCounts, SweepState, sweepOf } from './api';

/** A sweep as its points in the job list tell it. */
export interface ISweepGroup {
  id: string;
  name: string;
  notebook: string;
  backend: string;
  state: SweepState;
  counts: ISweepCounts;
  /** The newest attempt of each point, by point. */
  points: IJob[];
}

export type MonitorItem =
  { kind: 'job'; job: IJob } | { kind: 'sweep'; sweep: ISweepGroup };

/** Counts of points by state; a resubmitted point counts as its newest attempt. */
export function countPoints(points: readonly IJob[]): ISweepCounts {
  const counts: ISweepCounts = {
    total: points.length,
    pending: 0,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    held: 0
  };
  for (const job of points) {
    counts[job.state] = (counts[job.state] ?? 0) + 1;
  }
  return counts;
}

/** The sweep's state from its points' (the server's rule: failed = done, one point failed). */
export function sweepStateOf(counts: ISweepCounts): SweepState {
  if (counts.running || counts.held) {
    return 'running';
  }
  if (counts.pending) {
    return counts.completed || counts.failed ? 'running' : 'pending';
  }
  if (counts.failed) {
    return 'failed';
  }
  if (counts.cancelled) {
    return 'cancelled';
  }
  return 'completed';
}

/**
 * A point's job name without the point's values the server adds:
 * "train (lr=0.01, seed=1)" → "train".
 */
export function sweepName(job: IJob): string {
  const name = job.name;
  const mark = / \([A-Za-z_]\w*=/.exec(name);
  return mark && mark.index > 0 && name.endsWith(')')
    ? name.slice(0, mark.index)
    : name;
}

/**
 * Jobs (newest first) with the points of each sweep folded into one item, placed where its
 * newest job is. `names` gives a sweep's own name where known (GET sweeps).
 */
export function groupSweeps(
  jobs: readonly IJob[],
  names: ReadonlyMap<string, string> = new Map()
): MonitorItem[] {
  const items: MonitorItem[] = [];
  const groups = new Map<string, Map<number, IJob>>();
  for (const job of jobs) {
    const ref = sweepOf(job);
    if (!ref) {
      items.push({ kind: 'job', job });
      continue;
    }
    let points = groups.get(ref.id);
    if (!points) {
      points = new Map();
      groups.set(ref.id, points);
      items.push({
        kind: 'sweep',
        sweep: {
          id: ref.id,
          name: names.get(ref.id) ?? sweepName(job),
          notebook: job.notebook,
          backend: job.backend,
          state: 'pending',
          counts: countPoints([]),
          points: []
        }
      });
    }
    const seen = points.get(ref.point);
    if (!seen || job.created_at > seen.created_at) {
      points.set(ref.point, job);
    }
  }
  for (const item of items) {
    if (item.kind === 'sweep') {
      const points = Array.from(groups.get(item.sweep.id)!.entries())
        .sort((a, b) => a[0] - b[0])
        .map(e => e[1]);
      item.sweep.points = points;
      item.sweep.counts = countPoints(points);
      item.sweep.state = sweepStateOf(item.sweep.counts);
    }
  }
  return items;
}

/** Whether any point of a group is still to run. */
export function groupActive(group: ISweepGroup): boolean {
  return group.points.some(j => !FINAL_STATES.has(j.state));
}
