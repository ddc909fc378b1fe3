import { makeJob } from './fixtures';
import { finishedSweep, makeRow, makeSweep } from './sweep-fixtures';
import { chartAxes, chartChoices, chartSpec } from '../sweep/chart';
import type { ISweepCounts, ISweepSummary } from '../sweep/api';
import {
  countPoints,
  filterItems,
  groupSweeps,
  sweepName,
  sweepStateOf
} from '../sweep/group';
import {
  compareCells,
  formatCell,
  isNumericColumn,
  nextSort,
  progressText,
  sortRows,
  sweepProgress,
  visibleColumns
} from '../sweep/table';

describe('sweep table', () => {
  it('sorts numbers numerically, both ways, empty cells last', () => {
    // Given val_loss 1.1, 2.1, 10.1 (text order would put 10.1 second) and three empties
    const rows = makeSweep().rows;
    // When sorted ascending, then descending
    const up = sortRows(rows, { column: 'val_loss', direction: 'asc' });
    const down = sortRows(rows, { column: 'val_loss', direction: 'desc' });
    // Then
    expect(up.map(r => r.val_loss)).toEqual([1.1, 2.1, 10.1, null, null, null]);
    expect(down.map(r => r.val_loss)).toEqual([
      10.1,
      2.1,
      1.1,
      null,
      null,
      null
    ]);
    // equal cells keep the points' order; the input is not changed
    expect(down.slice(3).map(r => r.point)).toEqual([3, 4, 5]);
    expect(rows.map(r => r.point)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('sorts text naturally and puts numbers before text', () => {
    expect(['p10', 'p2', 'p1'].sort(compareCells)).toEqual(['p1', 'p2', 'p10']);
    expect(compareCells(3, 'a')).toBeLessThan(0);
    const rows = [
      makeRow(0, 0.1, 1, 'running'),
      makeRow(1, 0.1, 1, 'completed'),
      makeRow(2, 0.1, 1, 'failed')
    ];
    expect(
      sortRows(rows, { column: 'state', direction: 'asc' }).map(r => r.state)
    ).toEqual(['completed', 'failed', 'running']);
    expect(sortRows(rows, null)).toEqual(rows);
  });

  it('toggles a column ascending, then descending; another column starts ascending', () => {
    const a = nextSort(null, 'lr');
    expect(a).toEqual({ column: 'lr', direction: 'asc' });
    const b = nextSort(a, 'lr');
    expect(b).toEqual({ column: 'lr', direction: 'desc' });
    expect(nextSort(b, 'lr')).toEqual({ column: 'lr', direction: 'asc' });
    expect(nextSort(b, 'seed')).toEqual({ column: 'seed', direction: 'asc' });
  });

  it('reads cells shortly and hides the job id column', () => {
    expect(formatCell(0.1 + 0.2)).toBe('0.3');
    expect(formatCell(12)).toBe('12');
    expect(formatCell(null)).toBe('');
    expect(formatCell([1, 2])).toBe('[1,2]');
    expect(formatCell(true)).toBe('true');
    expect(visibleColumns(makeSweep())).not.toContain('job_id');
    expect(visibleColumns(makeSweep())[0]).toBe('point');
  });

  it('counts done, failed (with cancelled) and total points', () => {
    const p = sweepProgress({ ...makeSweep().counts, cancelled: 1, total: 7 });
    expect(p).toEqual({ done: 3, failed: 2, total: 7 });
    expect(progressText(p)).toBe('3 of 7 done, 2 failed');
    expect(progressText({ done: 4, failed: 0, total: 4 })).toBe('4 of 4 done');
  });

  it('knows the numeric columns', () => {
    const rows = makeSweep().rows;
    expect(isNumericColumn(rows, 'val_loss')).toBe(true);
    expect(isNumericColumn(rows, 'state')).toBe(false);
    expect(isNumericColumn([makeRow(0, 1, 1, 'running')], 'val_loss')).toBe(
      false
    );
  });
});

describe('sweep chart', () => {
  it('offers the parameters on x and the numeric collected values on y', () => {
    const sweep = makeSweep({ collect: ['val_loss', 'accuracy', 'label'] });
    sweep.rows.forEach(r => (r.label = 'text'));
    expect(chartChoices(sweep)).toEqual({
      x: ['lr', 'seed'],
      y: ['val_loss', 'accuracy']
    });
    // the axes asked for while the sweep has them, else the first ones
    expect(chartAxes(chartChoices(sweep), { y: 'accuracy' })).toEqual({
      x: 'lr',
      y: 'accuracy'
    });
    expect(chartAxes(chartChoices(sweep), { x: 'gone' })).toEqual({
      x: 'lr',
      y: 'val_loss'
    });
    expect(chartAxes({ x: ['lr'], y: [] }, {})).toBeNull();
  });

  it('is a Vega-Lite v5 spec of the points that have a value, one line per seed', () => {
    const spec: any = chartSpec(finishedSweep(), 'lr', 'val_loss');
    expect(spec.$schema).toBe(
      'https://vega.github.io/schema/vega-lite/v5.json'
    );
    // 5 completed points (the failed one has no value)
    expect(spec.data.values).toHaveLength(5);
    expect(spec.data.values[0]).toEqual({
      point: 0,
      lr: 0.01,
      seed: 1,
      val_loss: 1.1
    });
    expect(spec.encoding.x).toMatchObject({
      field: 'lr',
      type: 'quantitative'
    });
    expect(spec.encoding.y).toMatchObject({
      field: 'val_loss',
      type: 'quantitative'
    });
    expect(spec.encoding.color).toMatchObject({
      field: 'seed',
      type: 'nominal'
    });
    expect(spec.mark).toMatchObject({ type: 'line', point: true });
  });

  it('reads parameters and values by their column labels', () => {
    // a parameter named like a column of the table: its column is "state (parameter)"
    const sweep = makeSweep({ parameters: ['state'], collect: ['val_loss'] });
    sweep.columns = ['point', 'state (parameter)', 'state', 'val_loss'];
    sweep.column_info = [
      { label: 'point', name: 'point', kind: 'point' },
      { label: 'state (parameter)', name: 'state', kind: 'parameter' },
      { label: 'state', name: 'state', kind: 'state' },
      { label: 'val_loss', name: 'val_loss', kind: 'collected' }
    ];
    sweep.rows = sweep.rows.map(r => ({ ...r, 'state (parameter)': r.point }));
    expect(chartChoices(sweep)).toEqual({
      x: ['state (parameter)'],
      y: ['val_loss']
    });
    const spec: any = chartSpec(sweep, 'state (parameter)', 'val_loss');
    expect(spec.data.values[0]).toEqual({
      point: 0,
      'state (parameter)': 0,
      val_loss: 1.1
    });
  });

  it('has no spec before any point brought a value', () => {
    const sweep = makeSweep();
    sweep.rows.forEach(r => (r.val_loss = null));
    expect(chartSpec(sweep, 'lr', 'val_loss')).toBeNull();
  });
});

describe('sweeps in the job list', () => {
  const point = (id: string, sweep: string, p: number, over = {}) =>
    makeJob(id, { sweep: { id: sweep, point: p }, ...over } as any);

  it("folds a sweep's points into one item where its newest job is", () => {
    // Given jobs newest first: plain job 9, sweep S points (one resubmitted), plain job 1
    const jobs = [
      makeJob('9'),
      point('8', 'S', 1, { state: 'running' }), // the resubmission of point 1
      point('4', 'S', 0, { state: 'completed' }),
      point('3', 'S', 1, { state: 'failed' }),
      point('2', 'S', 2, { state: 'completed' }),
      makeJob('1')
    ];
    // When grouped
    const items = groupSweeps(jobs, known('S', { name: 'train' }));
    // Then
    expect(items.map(i => (i.kind === 'job' ? i.job.id : i.sweep.id))).toEqual([
      '9',
      'S',
      '1'
    ]);
    const sweep = (items[1] as any).sweep;
    expect(sweep.name).toBe('train');
    expect(sweep.points.map((j: any) => j.id)).toEqual(['4', '8', '2']);
    expect(sweep.counts).toMatchObject({
      total: 3,
      completed: 2,
      running: 1,
      failed: 0
    });
    expect(sweep.state).toBe('running');
  });

  it("names a sweep after its points' job name without the point's mark", () => {
    const items = groupSweeps(
      [point('2', 'S', 3, { name: 'train (lr=0.01, seed=1)' })],
      new Map()
    );
    expect((items[0] as any).sweep.name).toBe('train');
    expect(sweepName(makeJob('1', { name: 'fit (v2) (a="x (y=1)")' }))).toBe(
      'fit (v2)'
    );
    expect(sweepName(makeJob('1', { name: 'plain (b)' }))).toBe('plain (b)');
  });

  const counts = (states: string[], total = states.length): ISweepCounts => ({
    ...countPoints(
      states.map((st, i) => makeJob(String(i), { state: st as any }))
    ),
    total
  });

  it("states a sweep by the server's rule (sweep_rows.sweep_state)", () => {
    // done: failed once a point failed, cancelled once one was (and none failed)
    expect(sweepStateOf(counts(['completed', 'failed']))).toBe('failed');
    expect(sweepStateOf(counts(['completed', 'completed']))).toBe('completed');
    expect(sweepStateOf(counts(['completed', 'cancelled']))).toBe('cancelled');
    expect(sweepStateOf(counts(['failed', 'cancelled']))).toBe('failed');
    // the user cancelled the sweep: cancelled, even with a failed point
    expect(
      sweepStateOf(counts(['completed', 'failed', 'cancelled']), true)
    ).toBe('cancelled');
    // not done: pending until a point runs or ended; held points that never ran wait
    expect(sweepStateOf(counts(['pending', 'pending']))).toBe('pending');
    expect(sweepStateOf(counts(['held', 'pending']))).toBe('pending');
    expect(sweepStateOf(counts(['held', 'completed']))).toBe('running');
    expect(sweepStateOf(counts(['pending', 'completed']))).toBe('running');
    expect(sweepStateOf(counts(['running', 'pending']))).toBe('running');
    // points the list does not hold yet: not done
    expect(sweepStateOf(counts(['completed', 'completed'], 3))).toBe('running');
    expect(sweepStateOf(counts([], 3))).toBe('pending');
  });

  it("takes the server's state while the jobs tell the same counts", () => {
    // Given the server said: cancelled by the user, 1 completed, 1 failed, 1 cancelled
    const server = known('S', {
      state: 'cancelled',
      counts: { ...counts(['completed', 'failed', 'cancelled']) }
    });
    const jobs = [
      point('3', 'S', 2, { state: 'cancelled' }),
      point('2', 'S', 1, { state: 'failed' }),
      point('1', 'S', 0, { state: 'completed' })
    ];
    // Then the row says cancelled (the jobs alone would say failed)
    expect(sweepOf(groupSweeps(jobs, server)).state).toBe('cancelled');
    expect(sweepOf(groupSweeps(jobs, new Map())).state).toBe('failed');
    // When point 1 runs again (a resubmission the server has not told yet)
    const again = [point('4', 'S', 1, { state: 'running' }), ...jobs];
    // Then the jobs' counts rule
    const sweep = sweepOf(groupSweeps(again, server));
    expect(sweep.state).toBe('running');
    expect(sweep.counts).toMatchObject({ running: 1, failed: 0, cancelled: 1 });
  });

  it('counts the points the server has that the list does not hold yet', () => {
    const server = known('S', { state: 'running', counts: counts([], 6) });
    const sweep = sweepOf(
      groupSweeps([point('1', 'S', 0, { state: 'completed' })], server)
    );
    expect(sweep.counts).toMatchObject({ total: 6, completed: 1 });
    expect(sweep.state).toBe('running');
  });
});

describe('filtering the job list with sweeps', () => {
  const point = (id: string, sweep: string, p: number, over = {}) =>
    makeJob(id, { sweep: { id: sweep, point: p }, ...over } as any);
  const none = { state: '' as const, backend: '', text: '' };
  // Sweep S: point 1 failed, then ran again and completed; point 2 failed. Sweep T: all fine.
  const jobs = [
    point('9', 'S', 1, { state: 'completed' }),
    point('8', 'T', 0, { state: 'completed', name: 'fit (a=1)' }),
    makeJob('7', { state: 'failed', name: 'plain' }),
    point('4', 'S', 2, { state: 'failed' }),
    point('3', 'S', 1, { state: 'failed' }),
    point('2', 'S', 0, { state: 'completed' })
  ];

  it('groups every job first, then keeps the rows the filter matches', () => {
    const all = groupSweeps(jobs, new Map());
    const failed = filterItems(all, { ...none, state: 'failed' });
    // the sweep with a failed point, with all its points counted and its newest attempts
    expect(failed.map(i => (i.kind === 'job' ? i.job.id : i.sweep.id))).toEqual(
      ['S', '7']
    );
    const sweep = sweepOf(failed);
    expect(sweep.counts).toMatchObject({ total: 3, completed: 2, failed: 1 });
    expect(sweep.points.map(j => j.id)).toEqual(['2', '9', '4']);
    expect(sweep.state).toBe('failed');
    // a resubmitted point that completed: its failed attempt is not the sweep's
    expect(
      filterItems(
        groupSweeps(jobs.slice(0, 3).concat(jobs[4], jobs[5]), new Map()),
        {
          ...none,
          state: 'failed'
        }
      ).map(i => (i.kind === 'job' ? i.job.id : i.sweep.id))
    ).toEqual(['7']);
  });

  it("matches a sweep's name, or one of its points", () => {
    const all = groupSweeps(jobs, new Map());
    const ids = (text: string) =>
      filterItems(all, { ...none, text }).map(i =>
        i.kind === 'job' ? i.job.id : i.sweep.id
      );
    expect(ids('fit')).toEqual(['T']);
    expect(ids('nb/4')).toEqual(['S']);
    expect(ids('plain')).toEqual(['7']);
    expect(filterItems(all, { ...none, backend: 'spark' })).toEqual([]);
  });
});

/** The sweep of the first sweep item. */
function sweepOf(items: ReturnType<typeof groupSweeps>) {
  const item = items.find(i => i.kind === 'sweep');
  if (item?.kind !== 'sweep') {
    throw new Error('no sweep item');
  }
  return item.sweep;
}

/** What the server said about one sweep (a Map stands for the known sweeps). */
function known(
  id: string,
  over: Partial<ISweepSummary>
): Map<string, ISweepSummary> {
  const counts = countPoints([]);
  return new Map([[id, { ...makeSweep({ id }), counts, ...over }]]);
}
