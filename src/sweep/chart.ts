/**
 * The chart of a sweep: one collected value against one parameter, as a Vega-Lite spec that
 * JupyterLab's own renderer draws (@jupyterlab/vega5-extension registers this mime type, like
 * the v3/v4 ones, in the rendermime registry): no charting library of our own.
 */
import { ISweep } from './api';
import { columnsOf, isNumericColumn } from './table';

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

/** What the chart can show: parameters on x, collected values with numbers on y. */
export interface IChartChoices {
  x: string[];
  y: string[];
}

export function chartChoices(sweep: ISweep): IChartChoices {
  return {
    x: columnsOf(sweep, 'parameter'),
    y: columnsOf(sweep, 'collected').filter(c => isNumericColumn(sweep.rows, c))
  };
}

/** The axes to show: the ones chosen while they still make sense, else the first of each. */
export function chartAxes(
  choices: IChartChoices,
  wanted: { x?: string; y?: string }
): { x: string; y: string } | null {
  const x = wanted.x && choices.x.includes(wanted.x) ? wanted.x : choices.x[0];
  const y = wanted.y && choices.y.includes(wanted.y) ? wanted.y : choices.y[0];
  return x && y ? { x, y } : null;
}

/**
 * A Vega-Lite v5 spec: `y` against `x` over the points that have a number for `y`, a line per
 * value of the next parameter of the grid (e.g. one per seed), every point with a tooltip.
 * Null when no point has a value yet.
 */
export function chartSpec(
  sweep: ISweep,
  x: string,
  y: string
): Record<string, unknown> | null {
  const rows = sweep.rows.filter(
    r => typeof r[y] === 'number' && Number.isFinite(r[y] as number)
  );
  if (!rows.length) {
    return null;
  }
  const parameters = columnsOf(sweep, 'parameter');
  const series = parameters.find(p => p !== x);
  const fields = [...parameters, y];
  const values = rows.map(r => {
    const v: Record<string, unknown> = { point: r.point };
    for (const f of fields) {
      const cell = r[f];
      v[f] =
        cell !== null && typeof cell === 'object' ? JSON.stringify(cell) : cell;
    }
    return v;
  });
  const numericX = isNumericColumn(rows, x);
  const encoding: Record<string, unknown> = {
    x: {
      field: x,
      type: numericX ? 'quantitative' : 'ordinal',
      title: x,
      ...(numericX ? { scale: { zero: false } } : {})
    },
    y: { field: y, type: 'quantitative', title: y, scale: { zero: false } },
    tooltip: [
      { field: 'point', type: 'ordinal' },
      ...fields.map(f => ({
        field: f,
        type: isNumericColumn(rows, f) ? 'quantitative' : 'nominal'
      }))
    ]
  };
  if (series) {
    encoding.color = { field: series, type: 'nominal', title: series };
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${y} against ${x} (${sweep.name})`,
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true, tooltip: true },
    encoding
  };
}
