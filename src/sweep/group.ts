/**
 * The job monitor shows a sweep as one row: its points (jobs with `sweep.id`) grouped, their
 * progress counted from the jobs themselves (job events keep them current), its state the
 * server's where the server's last answer still tells the same counts.
 */
import { FINAL_STATES, IJob, JobState } from '../api';
import { IJobFilter, jobMatches } from '../model';
import {
  ISweepCounts,
  ISweepSummary,
  knownSweeps,
  SweepState,
  sweepOf
} from './api';

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

/** What the server said last about a sweep, by id (`KnownSweeps`, or a Map in tests). */
export interface ISweepLookup {
  get(id: string): ISweepSummary | undefined;
}

/** Every job state, in the order the UI lists them (the state filter, a sweep's counts). */
export const JOB_STATES: readonly JobState[] = [
  'pending',
  'running',
  'held',
  'completed',
  'failed',
  'cancelled'
];

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

/**
 * The sweep's state from its points' counts: the server's rule (jobs/sweep_rows.py
 * `sweep_state`). Done (nothing active, every point final): cancelled when the user cancelled
 * the sweep (`cancelled`), else failed when a point failed, else cancelled when a point was,
 * else completed. Not done: running once a point runs or ended, else pending (held points
 * that never started included).
 */
export function sweepStateOf(
  counts: ISweepCounts,
  cancelled = false
): SweepState {
  const active = counts.pending + counts.running + (counts.held ?? 0);
  const final = counts.completed + counts.failed + counts.cancelled;
  if (active === 0 && final >= counts.total) {
    if (cancelled) {
      return 'cancelled';
    }
    if (counts.failed) {
      return 'failed';
    }
    return counts.cancelled ? 'cancelled' : 'completed';
  }
  return counts.running || final ? 'running' : 'pending';
}

/** Whether two counts say the same of every state (not of the total). */
function sameStates(a: ISweepCounts, b: ISweepCounts): boolean {
  return JOB_STATES.every(k => (a[k] ?? 0) === (b[k] ?? 0));
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
 * newest job is; group every job (not a filtered list: a point's newest attempt and the
 * counts need them all), then `filterItems`.
 *
 * `known` gives what the server said last about a sweep: its name, its number of points
 * (some may not be listed yet), and its state while its counts are still those of the jobs
 * (a job does not tell whether the user cancelled its sweep).
 */
export function groupSweeps(
  jobs: readonly IJob[],
  known: ISweepLookup = knownSweeps
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
          name: known.get(ref.id)?.name || sweepName(job),
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
      const sweep = item.sweep;
      sweep.points = Array.from(groups.get(sweep.id)!.entries())
        .sort((a, b) => a[0] - b[0])
        .map(e => e[1]);
      const counts = countPoints(sweep.points);
      const server = known.get(sweep.id);
      if (server) {
        counts.total = Math.max(counts.total, server.counts.total);
      }
      sweep.counts = counts;
      sweep.state =
        server && sameStates(server.counts, counts)
          ? server.state
          : sweepStateOf(counts);
    }
  }
  return items;
}

/**
 * The items a filter keeps. A sweep is kept when the sweep or one of its points (newest
 * attempts) is in the state asked for, when its backend is the one asked for, and when the
 * text is in its name, notebook or id, or matches one of its points.
 */
export function filterItems(
  items: readonly MonitorItem[],
  filter: IJobFilter
): MonitorItem[] {
  const text = filter.text.trim().toLowerCase();
  const anyState = { ...filter, state: '' as const };
  return items.filter(item => {
    if (item.kind === 'job') {
      return jobMatches(item.job, filter, text);
    }
    const { sweep } = item;
    return (
      (!filter.state ||
        sweep.state === filter.state ||
        sweep.points.some(p => p.state === filter.state)) &&
      (!filter.backend || sweep.backend === filter.backend) &&
      (!text ||
        sweep.name.toLowerCase().includes(text) ||
        sweep.notebook.toLowerCase().includes(text) ||
        sweep.id.includes(text) ||
        sweep.points.some(p => jobMatches(p, anyState, text)))
    );
  });
}

/** Whether any point of a group is still to run. */
export function groupActive(group: ISweepGroup): boolean {
  return group.points.some(j => !FINAL_STATES.has(j.state));
}
