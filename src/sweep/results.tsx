/**
 * The results view of a sweep (a main-area tab): header with progress and actions, a chart of
 * one collected value against one parameter (JupyterLab's Vega-Lite renderer), and the table
 * of points, sortable by any column.
 */
import { PathExt } from '@jupyterlab/coreutils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Panel } from '@lumino/widgets';
import * as React from 'react';

import { ISweep, ISweepRow } from './api';
import { SweepChart } from './chartView';
import { SweepModel } from './model';
import { StateChip, SweepProgressBar } from './progress';
import {
  activePoints,
  formatCell,
  ISort,
  isNumericColumn,
  nextSort,
  progressText,
  resubmittable,
  sortRows,
  sweepProgress,
  visibleColumns
} from './table';

export interface ISweepViewActions {
  /** Open a notebook of the workspace (the docmanager). */
  open(path: string): void;
  /** Say that something failed (a refused cancel, a lost server). */
  notify(message: string): void;
}

/** Run an action of the model; a refusal is said, not thrown. */
function act(
  action: () => Promise<void>,
  actions: ISweepViewActions
): Promise<void> {
  return action().catch(reason =>
    actions.notify(reason?.message ?? String(reason))
  );
}

/** Name, where it runs, progress, Cancel / Resubmit failed / Download CSV. */
export class SweepHeader extends ReactWidget {
  constructor(
    readonly model: SweepModel,
    readonly actions: ISweepViewActions
  ) {
    super();
    this.addClass('jp-SwanSweep-header');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>{() => this._render()}</UseSignal>
    );
  }

  private _render(): JSX.Element {
    const { model, actions } = this;
    const sweep = model.sweep;
    if (!sweep) {
      return (
        <p className={model.error ? 'jp-SwanML-error' : 'jp-SwanML-hint'}>
          {model.error
            ? `Cannot load sweep ${model.id}: ${model.error}`
            : `Loading sweep ${model.id}…`}
        </p>
      );
    }
    const c = sweep.counts;
    const failed = resubmittable(c);
    const active = activePoints(c);
    const engine = sweep.engine
      ? `${sweep.engine.submissions} engine submission${
          sweep.engine.submissions === 1 ? '' : 's'
        }${sweep.engine.batch ? ' (batch)' : ''}`
      : '';
    return (
      <div className="jp-SwanSweep-head" data-testid="sweep-header">
        <div className="jp-SwanSweep-title">
          <h2>{sweep.name}</h2>
          <StateChip state={sweep.state} />
        </div>
        <p className="jp-SwanSweep-meta">
          <code>{sweep.notebook}</code> on {sweep.backend}
          {' · '}
          {sweep.parameters.join(' × ') || 'explicit points'}
          {engine && ` · ${engine}`}
        </p>
        <div className="jp-SwanSweep-progress">
          <SweepProgressBar counts={c} />
          <span data-testid="sweep-progress-text">
            {progressText(sweepProgress(c))}
          </span>
          <span className="jp-SwanML-hint">
            {[
              c.running && `${c.running} running`,
              c.pending && `${c.pending} pending`,
              c.held && `${c.held} held`,
              c.cancelled && `${c.cancelled} cancelled`
            ]
              .filter(Boolean)
              .join(', ')}
          </span>
        </div>
        <div className="jp-SwanML-actions">
          <button
            className="jp-mod-styled"
            disabled={!active}
            title={
              active ? 'Cancel every point still to run' : 'No point is active'
            }
            onClick={() => void act(() => model.cancel(), actions)}
          >
            Cancel sweep
          </button>
          <button
            className="jp-mod-styled"
            disabled={!failed}
            title={
              failed
                ? 'Run the failed and cancelled points again'
                : 'No point failed'
            }
            onClick={() => void act(() => model.resubmit(), actions)}
          >
            {failed ? `Resubmit failed (${failed})` : 'Resubmit failed'}
          </button>
          <button
            className="jp-mod-styled jp-SwanSweep-csv"
            title="The results table as a CSV file"
            onClick={() => void act(() => model.downloadCsv(), actions)}
          >
            Download CSV
          </button>
        </div>
        {(sweep.warnings ?? []).map(w => (
          <p key={w} className="jp-SwanML-hint jp-SwanSweep-warning">
            {w}
          </p>
        ))}
        {model.error && (
          <p className="jp-SwanML-error" role="alert">
            {model.error}
          </p>
        )}
      </div>
    );
  }
}

function Cell(props: {
  column: string;
  row: ISweepRow;
  actions: ISweepViewActions;
}): JSX.Element {
  const { column, row, actions } = props;
  const value = row[column];
  if (column === 'state') {
    return <StateChip state={String(value)} />;
  }
  if (column === 'notebook') {
    const path = typeof value === 'string' ? value : '';
    return path ? (
      <button
        className="jp-SwanML-link"
        title={path}
        aria-label={`Open the executed notebook of point ${row.point}`}
        onClick={() => actions.open(path)}
      >
        {PathExt.basename(path)}
      </button>
    ) : (
      <></>
    );
  }
  const text = formatCell(value);
  return column === 'message' ? (
    <span className="jp-SwanSweep-message" title={text}>
      {text}
    </span>
  ) : (
    <>{text}</>
  );
}

/** The points: one row each, sorted by a click on a column's header (again: descending). */
export function SweepTableView(props: {
  sweep: ISweep;
  actions: ISweepViewActions;
  sort: ISort | null;
  onSort: (sort: ISort) => void;
}): JSX.Element {
  const { sweep, sort } = props;
  const columns = visibleColumns(sweep);
  const rows = sortRows(sweep.rows, sort);
  const numeric = new Set(
    columns.filter(c => c !== 'state' && isNumericColumn(sweep.rows, c))
  );
  return (
    <table
      className="jp-SwanSweep-table"
      aria-label="Sweep results"
      data-testid="sweep-table"
    >
      <thead>
        <tr>
          {columns.map(c => {
            const dir = sort?.column === c ? sort.direction : null;
            return (
              <th
                key={c}
                aria-sort={
                  dir ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'
                }
                className={numeric.has(c) ? 'jp-SwanSweep-num' : undefined}
              >
                <button
                  className="jp-SwanSweep-sort"
                  title={`Sort by ${c}`}
                  onClick={() => props.onSort(nextSort(sort, c))}
                >
                  {c}
                  <span aria-hidden="true">
                    {dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ''}
                  </span>
                </button>
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {rows.map(row => (
          <tr key={row.point} data-point={row.point} data-state={row.state}>
            {columns.map(c => (
              <td
                key={c}
                data-column={c}
                className={numeric.has(c) ? 'jp-SwanSweep-num' : undefined}
              >
                <Cell column={c} row={row} actions={props.actions} />
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export class SweepTable extends ReactWidget {
  constructor(
    readonly model: SweepModel,
    readonly actions: ISweepViewActions
  ) {
    super();
    this.addClass('jp-SwanSweep-tableBox');
  }

  /** The table's order (null: by point). */
  sort: ISort | null = null;

  setSort(sort: ISort | null): void {
    this.sort = sort;
    this.update();
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() =>
          this.model.sweep ? (
            <SweepTableView
              sweep={this.model.sweep}
              actions={this.actions}
              sort={this.sort}
              onSort={s => this.setSort(s)}
            />
          ) : (
            <></>
          )
        }
      </UseSignal>
    );
  }
}

/** The whole view: header, chart, table; it follows the sweep while it is active. */
export class SweepView extends Panel {
  constructor(
    readonly model: SweepModel,
    rendermime: IRenderMimeRegistry | null,
    actions: ISweepViewActions
  ) {
    super();
    this.addClass('jp-SwanSweep-view');
    this.node.setAttribute('data-testid', 'sweep-view');
    this.header = new SweepHeader(model, actions);
    this.chart = new SweepChart(model, rendermime);
    this.table = new SweepTable(model, actions);
    this.addWidget(this.header);
    this.addWidget(this.chart);
    this.addWidget(this.table);
  }

  readonly header: SweepHeader;
  readonly chart: SweepChart;
  readonly table: SweepTable;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    super.dispose();
    this.model.dispose();
  }
}
