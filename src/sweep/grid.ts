/**
 * The values of the dialog's Sweep section, as data: per parameter one value, a list
 * ("0.01, 0.02") or a range (from / to / step, both ends included), typed like the parameter;
 * the point count; the notebook variables to offer for collection; and `readSweep` /
 * `sweepRequest`, which turn them into the `sweep` / `collect` fields of `POST sweeps`.
 */
import { IJobRequest } from '../api';
import { IParam, isIdentifier, ParamType, paramValue } from '../params';
import { ISweepRequest } from './api';

export type AxisMode = 'single' | 'list' | 'range';

/** How one parameter is swept, as the user types it. */
export interface ISweepAxis {
  name: string;
  type: ParamType;
  mode: AxisMode;
  list: string;
  start: string;
  stop: string;
  step: string;
}

export interface ISweepValues {
  /** Whether the section is open (closed: no sweep, whatever it holds). */
  open: boolean;
  axes: ISweepAxis[];
  /** Names picked among the notebook's variables. */
  collect: string[];
  /** Other names to collect, comma-separated. */
  otherCollect: string;
}

/** The form's reading: the body fields, the point count and what is wrong, by field. */
export interface ISweepReading {
  /** Null: no parameter is swept (the dialog submits a plain job). */
  sweep: Record<string, unknown[]> | null;
  collect: string[];
  /** Points of the grid (the product of the swept parameters' value counts). */
  count: number;
  /** Errors by field: `sweep-<name>` per parameter, `collect`. */
  errors: Record<string, string>;
}

/** Values a range can hold at most (a typo like step 0.0000001 says so instead of hanging). */
export const MAX_RANGE_VALUES = 100000;

export function initialSweep(params: readonly IParam[]): ISweepValues {
  return {
    open: false,
    axes: params.map(p => ({
      name: p.name,
      type: p.type,
      mode: 'single',
      list: '',
      start: '',
      stop: '',
      step: ''
    })),
    collect: [],
    otherCollect: ''
  };
}

/** Whether a parameter of this type can take a range (numbers only). */
export function canRange(type: ParamType): boolean {
  return type === 'int' || type === 'float' || type === 'none';
}

/**
 * Split "a, b, c" at top-level commas: commas inside quotes or brackets stay ("[1, 2], [3]"
 * is two items); items are trimmed, empty ones dropped; quotes around a whole item go.
 */
export function splitList(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote = '';
  let current = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) {
        quote = '';
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '[' || ch === '{') {
      depth++;
    } else if ((ch === ']' || ch === '}') && depth > 0) {
      depth--;
    } else if (ch === ',' && depth === 0) {
      items.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  items.push(current);
  return items
    .map(s => s.trim())
    .filter(s => s.length > 0)
    .map(s => (/^(["']).*\1$/s.test(s) && s.length >= 2 ? s.slice(1, -1) : s));
}

/** A list item typed like its parameter (a None parameter: JSON if it reads, else text). */
function itemValue(
  axis: ISweepAxis,
  text: string
): { value: unknown } | { error: string } {
  if (axis.type === 'none') {
    try {
      return { value: JSON.parse(text) };
    } catch {
      return { value: text };
    }
  }
  const read = paramValue({ name: axis.name, type: axis.type, text });
  return 'error' in read && read.error !== undefined
    ? { error: read.error }
    : { value: (read as { value: unknown }).value };
}

/** `from` to `to` (included when a step lands on it) by `step`; integers stay integers. */
export function rangeValues(
  start: string,
  stop: string,
  step: string,
  integer: boolean
): { values: number[] } | { error: string } {
  const texts = { from: start, to: stop, step };
  const nums: Record<string, number> = {};
  for (const [key, text] of Object.entries(texts)) {
    const t = text.trim();
    const n = Number(t);
    if (t === '' || !Number.isFinite(n)) {
      return { error: `${key} must be a number` };
    }
    if (integer && !Number.isInteger(n)) {
      return { error: `${key} must be an integer` };
    }
    nums[key] = n;
  }
  const { from, to } = nums;
  const by = nums.step;
  if (by === 0 || (to - from) * by < 0) {
    return {
      error:
        by === 0
          ? 'step must not be 0'
          : `step must be ${to < from ? 'negative' : 'positive'} to go from ${from} to ${to}`
    };
  }
  const n = Math.floor((to - from) / by + 1e-9) + 1;
  if (n > MAX_RANGE_VALUES) {
    return { error: `${n} values: a range holds at most ${MAX_RANGE_VALUES}` };
  }
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = from + i * by;
    values.push(integer ? v : +v.toPrecision(12));
  }
  return { values };
}

/** The values of a swept parameter (null for one not swept), or what is wrong. */
export function axisValues(
  axis: ISweepAxis
): { values: unknown[] | null } | { error: string } {
  if (axis.mode === 'single') {
    return { values: null };
  }
  if (axis.mode === 'range') {
    const integer =
      axis.type === 'int' ||
      (axis.type === 'none' &&
        [axis.start, axis.stop, axis.step].every(t =>
          /^\s*[+-]?\d+\s*$/.test(t)
        ));
    return rangeValues(axis.start, axis.stop, axis.step, integer);
  }
  const items = splitList(axis.list);
  if (!items.length) {
    return { error: `give ${axis.name} at least one value, e.g. 1, 2, 3` };
  }
  const values: unknown[] = [];
  for (const item of items) {
    const read = itemValue(axis, item);
    if ('error' in read) {
      return { error: `${read.error}: ${JSON.stringify(item)}` };
    }
    const key = JSON.stringify(read.value);
    if (values.some(v => JSON.stringify(v) === key)) {
      return { error: `${item} is given twice` };
    }
    values.push(read.value);
  }
  return { values };
}

/** Top-level assignment targets of a line: `x = `, `a, b = `, `x: int = `, `x += `. */
const ASSIGNMENT =
  /^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::[^=]*)?(?:\*\*|\/\/|>>|<<|[-+*/%@&|^])?=(?!=)/;

/**
 * The notebook's variables worth collecting: names assigned at the top level of its code
 * cells (read simply, line by line, nothing executed), first seen first; private names
 * (`_x`) and those in `exclude` (the parameters) left out.
 */
export function notebookVariables(
  notebook: any,
  exclude: Iterable<string> = []
): string[] {
  const skip = new Set(exclude);
  const names: string[] = [];
  const seen = new Set<string>();
  for (const cell of notebook?.cells ?? []) {
    if (cell?.cell_type !== 'code') {
      continue;
    }
    const source = Array.isArray(cell.source)
      ? cell.source.join('')
      : String(cell.source ?? '');
    let inString = false;
    for (const line of source.split('\n')) {
      const quotes = (line.match(/"""|'''/g) ?? []).length;
      const wasInString = inString;
      if (quotes % 2 === 1) {
        inString = !inString;
      }
      if (wasInString) {
        continue;
      }
      const m = ASSIGNMENT.exec(line);
      if (!m) {
        continue;
      }
      for (const raw of m[1].split(',')) {
        const name = raw.trim();
        if (
          isIdentifier(name) &&
          !name.startsWith('_') &&
          !skip.has(name) &&
          !seen.has(name)
        ) {
          seen.add(name);
          names.push(name);
        }
      }
    }
  }
  return names;
}

/** The names to collect: those picked, then the others typed (each once). */
export function collectNames(values: ISweepValues): string[] {
  const names = [...values.collect, ...splitList(values.otherCollect)];
  return names.filter((n, i) => names.indexOf(n) === i);
}

/** Read the section: the grid, the names to collect, the point count, what is wrong. */
export function readSweep(values: ISweepValues): ISweepReading {
  const errors: Record<string, string> = {};
  const grid: Record<string, unknown[]> = {};
  let count = 1;
  let swept = 0;
  if (!values.open) {
    return { sweep: null, collect: [], count: 0, errors };
  }
  for (const axis of values.axes) {
    const read = axisValues(axis);
    if ('error' in read) {
      errors[`sweep-${axis.name}`] = read.error;
      swept++;
      count = 0;
      continue;
    }
    if (read.values) {
      grid[axis.name] = read.values;
      count *= read.values.length;
      swept++;
    }
  }
  const collect = collectNames(values);
  const bad = collect.filter(n => !isIdentifier(n));
  if (bad.length) {
    errors.collect = `not a Python name: ${bad.join(', ')}`;
  }
  return {
    sweep: swept ? grid : null,
    collect,
    count: swept ? count : 0,
    errors
  };
}

/**
 * The body of `POST sweeps` from the dialog's job request and the section's reading; null
 * when nothing is swept (or the section has errors). Swept parameters leave `parameters`.
 */
export function sweepRequest(
  request: IJobRequest,
  reading: ISweepReading
): ISweepRequest | null {
  if (!reading.sweep || Object.keys(reading.errors).length) {
    return null;
  }
  const parameters = { ...(request.parameters ?? {}) };
  for (const name of Object.keys(reading.sweep)) {
    delete parameters[name];
  }
  return {
    ...request,
    parameters,
    sweep: reading.sweep,
    collect: reading.collect
  };
}

/** "2 × 3 = 6 points". */
export function countText(
  values: ISweepValues,
  reading: ISweepReading
): string {
  const sizes = values.axes
    .map(a => reading.sweep?.[a.name]?.length)
    .filter((n): n is number => n !== undefined);
  if (!reading.sweep) {
    return 'No parameter swept: one job.';
  }
  if (Object.keys(reading.errors).some(k => k.startsWith('sweep-'))) {
    return 'Fix the values to see the number of points.';
  }
  const n = reading.count;
  const product = sizes.length > 1 ? `${sizes.join(' × ')} = ` : '';
  return `${product}${n} point${n === 1 ? '' : 's'}`;
}
