import { makeJob } from './fixtures';
import { finishedSweep, makeRow, makeSweep } from './sweep-fixtures';
import { chartAxes, chartChoices, chartSpec } from '../sweep/chart';
import {
  countPoints,
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
    const items = groupSweeps(jobs, new Map([['S', 'train']]));
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
    const items = groupSweeps([
      point('2', 'S', 3, { name: 'train (lr=0.01, seed=1)' })
    ]);
    expect((items[0] as any).sweep.name).toBe('train');
    expect(sweepName(makeJob('1', { name: 'fit (v2) (a="x (y=1)")' }))).toBe(
      'fit (v2)'
    );
    expect(sweepName(makeJob('1', { name: 'plain (b)' }))).toBe('plain (b)');
  });

  it('states a sweep like the server: failed once done with a failed point', () => {
    const counts = (states: string[]) =>
      countPoints(
        states.map((s, i) => makeJob(String(i), { state: s as any }))
      );
    expect(sweepStateOf(counts(['completed', 'failed']))).toBe('failed');
    expect(sweepStateOf(counts(['completed', 'completed']))).toBe('completed');
    expect(sweepStateOf(counts(['pending', 'pending']))).toBe('pending');
    expect(sweepStateOf(counts(['pending', 'completed']))).toBe('running');
    expect(sweepStateOf(counts(['completed', 'cancelled']))).toBe('cancelled');
  });
});
