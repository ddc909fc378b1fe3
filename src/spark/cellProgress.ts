import type { Cell } from '@jupyterlab/cells';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';
import type { PanelLayout, Widget } from '@lumino/widgets';

import type { ISparkSession } from './api';
import { CellSparkBar } from './cellBar';
import { ICellJobs, groupByCell } from './progress';
import type { ISparkModel } from './tokens';

const INPUT_WRAPPER = 'jp-Cell-inputWrapper';

/** Put a widget right under the cell's input; false while the cell has no DOM yet. */
export function insertUnderInput(cell: Cell, widget: Widget): boolean {
  const layout = cell.layout as PanelLayout | null;
  const index = layout?.widgets.findIndex(w => w.hasClass(INPUT_WRAPPER)) ?? -1;
  if (!layout || index < 0) {
    return false;
  }
  layout.insertWidget(index + 1, widget);
  return true;
}

/** The latest session of a kernel: the active one, else the newest that ended. */
export function sessionForKernel(
  model: ISparkModel,
  kernelId: string
): ISparkSession | undefined {
  return (
    model.sessionOfKernel(kernelId) ??
    [...model.sessions]
      .filter(s => s.kernel_id === kernelId)
      .sort((a, b) => b.registered_at.localeCompare(a.registered_at))[0]
  );
}

interface IFollowed {
  sessionId: string | null;
  watch: IDisposable | null;
  bars: Map<Cell, CellSparkBar>;
}

/**
 * Keeps a CellSparkBar under every cell of an open notebook that started Spark jobs in its
 * kernel's session (classic and Connect alike: the server knows the cell of each job).
 */
export class CellProgress implements IDisposable {
  constructor(
    private readonly _model: ISparkModel,
    private readonly _tracker: INotebookTracker
  ) {
    _model.changed.connect(this._schedule, this);
    _tracker.widgetAdded.connect((_, panel) => this._follow(panel), this);
    _tracker.forEach(panel => this._follow(panel));
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Whether bars are shown; off: every bar goes and no session is watched for them. */
  get enabled(): boolean {
    return this._enabled;
  }

  set enabled(value: boolean) {
    if (value === this._enabled) {
      return;
    }
    this._enabled = value;
    if (!value) {
      this._followed.forEach(f => this._clear(f));
    }
    this._schedule();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._model.changed.disconnect(this._schedule, this);
    for (const panel of Array.from(this._followed.keys())) {
      this._forget(panel);
    }
  }

  /** Bring every open notebook's bars up to date now. */
  update(): void {
    this._scheduled = false;
    if (this._disposed) {
      return;
    }
    this._tracker.forEach(panel => this._updatePanel(panel));
  }

  private _schedule(): void {
    if (!this._scheduled) {
      this._scheduled = true;
      void Promise.resolve().then(() => this.update());
    }
  }

  private _follow(panel: NotebookPanel): void {
    if (this._followed.has(panel)) {
      return;
    }
    this._followed.set(panel, {
      sessionId: null,
      watch: null,
      bars: new Map()
    });
    panel.sessionContext.kernelChanged.connect(this._schedule, this);
    void panel.context.ready.then(() => {
      panel.content.model?.cells.changed.connect(this._schedule, this);
      this._schedule();
    });
    panel.disposed.connect(() => this._forget(panel));
    this._schedule();
  }

  private _forget(panel: NotebookPanel): void {
    const followed = this._followed.get(panel);
    if (!followed) {
      return;
    }
    this._clear(followed);
    this._followed.delete(panel);
  }

  private _clear(followed: IFollowed): void {
    followed.watch?.dispose();
    followed.watch = null;
    followed.sessionId = null;
    followed.bars.forEach(b => b.dispose());
    followed.bars.clear();
  }

  private _updatePanel(panel: NotebookPanel): void {
    const followed = this._followed.get(panel);
    if (!followed || !this._enabled) {
      return;
    }
    const kernelId = panel.sessionContext.session?.kernel?.id;
    const session = kernelId
      ? sessionForKernel(this._model, kernelId)
      : undefined;
    const sessionId = session?.id ?? null;
    if (sessionId !== followed.sessionId) {
      followed.watch?.dispose();
      followed.watch = sessionId
        ? this._model.watch(sessionId, ['jobs'])
        : null;
      followed.sessionId = sessionId;
    }
    const groups = new Map<string, ICellJobs>();
    if (sessionId) {
      for (const g of groupByCell(this._model.details(sessionId))) {
        if (g.cellId !== null) {
          groups.set(g.cellId, g);
        }
      }
    }
    // Cells that lost their jobs (another session, cleared): their bar goes.
    followed.bars.forEach((b, cell) => {
      if (b.isDisposed || cell.isDisposed || !groups.has(cell.model.id)) {
        b.dispose();
        followed.bars.delete(cell);
      }
    });
    if (!groups.size) {
      return;
    }
    for (const cell of panel.content.widgets) {
      const group = groups.get(cell.model.id);
      if (group) {
        this._show(followed, cell, group);
      }
    }
  }

  private _show(followed: IFollowed, cell: Cell, group: ICellJobs): void {
    let bar = followed.bars.get(cell);
    if (!bar) {
      const created = new CellSparkBar(g => this._kill(followed, g));
      if (!insertUnderInput(cell, created)) {
        created.dispose();
        // A cell not rendered yet (windowed notebook): place the bar once it is.
        if (!this._waiting.has(cell)) {
          this._waiting.add(cell);
          void cell.ready.then(() => this._schedule());
        }
        return;
      }
      followed.bars.set(cell, created);
      bar = created;
    }
    bar.render(group);
  }

  private _kill(followed: IFollowed, group: ICellJobs): void {
    const sessionId = followed.sessionId;
    if (!sessionId) {
      return;
    }
    for (const job of group.jobs.filter(j => j.status === 'RUNNING')) {
      this._model.kill(sessionId, job.job_id).catch(reason => {
        console.warn(
          `swan-ml-ext: could not kill Spark job ${job.job_id}`,
          reason
        );
      });
    }
  }

  private _disposed = false;
  private _enabled = true;
  private _followed = new Map<NotebookPanel, IFollowed>();
  private _scheduled = false;
  private _waiting = new WeakSet<Cell>();
}
