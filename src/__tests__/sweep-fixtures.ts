import type { ISweep, ISweepRow } from '../sweep/api';
import type { JobState } from '../api';

/**
 * Sweeps as the REST contract (round plan, issue 12 wave 2) shapes them. The specs wire the
 * shared `requestAPI` stand-in of spark-fixtures:
 * `jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());`
 */

export const COLUMNS = [
  'point',
  'lr',
  'seed',
  'state',
  'val_loss',
  'accuracy',
  'job_id',
  'notebook',
  'message'
];

export function makeRow(
  point: number,
  lr: number,
  seed: number,
  state: JobState,
  over: Partial<ISweepRow> = {}
): ISweepRow {
  const done = state === 'completed';
  return {
    point,
    lr,
    seed,
    state,
    val_loss: done ? +(lr * 10 + seed).toFixed(3) : null,
    accuracy: done ? 0.9 : null,
    job_id: `job${point}`,
    notebook: done ? `swan-ml-outputs/train-job${point}/train.ipynb` : null,
    message: state === 'failed' ? 'cell 3: ValueError: lr too large' : '',
    ...over
  };
}

/**
 * A 3 x 2 grid (lr 0.01/0.02/0.1, seed 1/2) with 3 points completed, 1 failed, 2 running:
 * `val_loss` = 10 lr + seed, so its numeric and text orders differ (10.1 sorts after 2.1).
 */
export function makeSweep(over: Partial<ISweep> = {}): ISweep {
  const rows = [
    makeRow(0, 0.01, 1, 'completed'),
    makeRow(1, 0.01, 2, 'completed'),
    makeRow(2, 0.02, 1, 'completed', { val_loss: 10.1 }),
    makeRow(3, 0.02, 2, 'failed'),
    makeRow(4, 0.1, 1, 'running'),
    makeRow(5, 0.1, 2, 'running')
  ];
  return {
    id: 'ab12cd34ef56',
    name: 'train',
    notebook: 'ana/train.ipynb',
    backend: 'condor',
    state: 'running',
    created_at: '2026-12-01T10:00:00.000Z',
    finished_at: null,
    parameters: ['lr', 'seed'],
    collect: ['val_loss', 'accuracy'],
    counts: {
      total: 6,
      pending: 0,
      running: 2,
      completed: 3,
      failed: 1,
      cancelled: 0,
      held: 0
    },
    engine: { submissions: 1, batch: true },
    columns: [...COLUMNS],
    column_info: COLUMNS.map(label => ({
      label,
      name: label,
      kind: (['lr', 'seed'].includes(label)
        ? 'parameter'
        : ['val_loss', 'accuracy'].includes(label)
          ? 'collected'
          : label) as any
    })),
    warnings: [],
    rows,
    ...over
  };
}

/** The same sweep once every point is done (one failed). */
export function finishedSweep(): ISweep {
  const sweep = makeSweep();
  sweep.rows[4] = makeRow(4, 0.1, 1, 'completed');
  sweep.rows[5] = makeRow(5, 0.1, 2, 'completed');
  return {
    ...sweep,
    state: 'failed',
    finished_at: '2026-12-01T10:05:00.000Z',
    counts: { ...sweep.counts, running: 0, completed: 5 }
  };
}

/** A 4xx as requestAPI throws it. */
export function refusal(status: number, message: string): Error {
  return Object.assign(new Error(message), { response: { status } });
}

/**
 * A fake sweeps server behind `requestAPI`: GET/DELETE sweeps/{id}, POST sweeps/{id}/resubmit
 * (409 with nothing to resubmit), POST sweeps; records every call.
 */
export class FakeSweepServer {
  sweep: ISweep = makeSweep();
  calls: { path: string; method: string; body?: any }[] = [];

  handle = async (path: string, init: RequestInit = {}): Promise<any> => {
    const method = init.method ?? 'GET';
    const body = init.body ? JSON.parse(init.body as string) : undefined;
    this.calls.push({ path, method, body });
    const base = `sweeps/${this.sweep.id}`;
    if (path === base && method === 'GET') {
      return structuredCopy(this.sweep);
    }
    if (path === base && method === 'DELETE') {
      this.sweep = {
        ...this.sweep,
        state: 'cancelled',
        counts: {
          ...this.sweep.counts,
          running: 0,
          pending: 0,
          cancelled: this.sweep.counts.running + this.sweep.counts.pending
        },
        rows: this.sweep.rows.map(r =>
          r.state === 'running' ? { ...r, state: 'cancelled' } : r
        )
      };
      return structuredCopy(this.sweep);
    }
    if (path === `${base}/resubmit` && method === 'POST') {
      const again = this.sweep.counts.failed + this.sweep.counts.cancelled;
      if (!again) {
        throw refusal(409, 'no failed or cancelled point to resubmit');
      }
      this.sweep = {
        ...this.sweep,
        state: 'running',
        finished_at: null,
        counts: {
          ...this.sweep.counts,
          failed: 0,
          cancelled: 0,
          pending: this.sweep.counts.pending + again
        },
        rows: this.sweep.rows.map(r =>
          r.state === 'failed' || r.state === 'cancelled'
            ? { ...r, state: 'pending', message: '' }
            : r
        )
      };
      return structuredCopy(this.sweep);
    }
    if (path === 'sweeps' && method === 'POST') {
      return structuredCopy(this.sweep);
    }
    throw refusal(404, `unexpected ${method} ${path}`);
  };

  count(method: string, path: string): number {
    return this.calls.filter(c => c.method === method && c.path === path)
      .length;
  }
}

function structuredCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}
