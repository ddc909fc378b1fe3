/**
 * The results table of a sweep, as data: sorting (numbers numerically, empty cells last),
 * what each column holds, how a cell reads, and the progress of the points.
 */
import { ISweep, ISweepCounts, ISweepRow } from './api';

export type SortDirection = 'asc' | 'desc';

export interface ISort {
  column: string;
  direction: SortDirection;
}

/** Columns the table does not show as their own column (the row's link and actions). */
export const HIDDEN_COLUMNS: ReadonlySet<string> = new Set(['job_id']);

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === '';
}

/**
 * Order of two cells: numbers numerically (before text), text by natural order ("p2" before
 * "p10"); empty cells are not compared here (see sortRows).
 */
export function compareCells(a: unknown, b: unknown): number {
  const na = typeof a === 'number' || typeof a === 'boolean';
  const nb = typeof b === 'number' || typeof b === 'boolean';
  if (na && nb) {
    return Number(a) - Number(b);
  }
  if (na !== nb) {
    return na ? -1 : 1;
  }
  return formatCell(a).localeCompare(formatCell(b), undefined, {
    numeric: true
  });
}

/**
 * The rows sorted by one column (a copy; stable: equal cells keep the points' order); empty
 * cells go last whichever the direction.
 */
export function sortRows(
  rows: readonly ISweepRow[],
  sort: ISort | null
): ISweepRow[] {
  const indexed = rows.map((row, i) => ({ row, i }));
  if (sort) {
    const sign = sort.direction === 'asc' ? 1 : -1;
    indexed.sort((x, y) => {
      const a = x.row[sort.column];
      const b = y.row[sort.column];
      const ea = isEmpty(a);
      const eb = isEmpty(b);
      if (ea || eb) {
        return ea === eb ? x.i - y.i : ea ? 1 : -1;
      }
      return sign * compareCells(a, b) || x.i - y.i;
    });
  }
  return indexed.map(x => x.row);
}

/** The next sort after a click on a column's header: ascending, then descending. */
export function nextSort(current: ISort | null, column: string): ISort {
  return current?.column === column && current.direction === 'asc'
    ? { column, direction: 'desc' }
    : { column, direction: 'asc' };
}

/** How a cell reads: numbers as short as they are exact to 6 digits, lists and objects as JSON. */
export function formatCell(value: unknown): string {
  if (isEmpty(value)) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value)
      : String(+value.toPrecision(6));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** The columns to show, in the sweep's order. */
export function visibleColumns(sweep: ISweep): string[] {
  return sweep.columns.filter(c => !HIDDEN_COLUMNS.has(c));
}

/**
 * The labels of the columns of one kind: the rows' keys for the swept parameters or the
 * collected values (they differ from the names only where a name is taken, e.g. a parameter
 * called `state`).
 */
export function columnsOf(
  sweep: ISweep,
  kind: 'parameter' | 'collected'
): string[] {
  if (sweep.column_info?.length) {
    return sweep.column_info.filter(c => c.kind === kind).map(c => c.label);
  }
  return kind === 'parameter' ? [...sweep.parameters] : [...sweep.collect];
}

/** Whether a column holds numbers only (in the rows that have a value). */
export function isNumericColumn(
  rows: readonly ISweepRow[],
  column: string
): boolean {
  let any = false;
  for (const row of rows) {
    const v = row[column];
    if (isEmpty(v)) {
      continue;
    }
    if (typeof v !== 'number') {
      return false;
    }
    any = true;
  }
  return any;
}

/** Points finished (completed), failed (or cancelled), and in all. */
export interface ISweepProgress {
  done: number;
  failed: number;
  total: number;
}

export function sweepProgress(counts: ISweepCounts): ISweepProgress {
  return {
    done: counts.completed ?? 0,
    failed: (counts.failed ?? 0) + (counts.cancelled ?? 0),
    total: counts.total ?? 0
  };
}

/** "4 of 6 done, 1 failed". */
export function progressText(p: ISweepProgress): string {
  return (
    `${p.done} of ${p.total} done` + (p.failed ? `, ${p.failed} failed` : '')
  );
}

/** Points that a resubmission would run again. */
export function resubmittable(counts: ISweepCounts): number {
  return (counts.failed ?? 0) + (counts.cancelled ?? 0);
}

/** Points still to run. */
export function activePoints(counts: ISweepCounts): number {
  return (counts.pending ?? 0) + (counts.running ?? 0) + (counts.held ?? 0);
}
