import type { ICodeCellModel } from '@jupyterlab/cells';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';

/** The notebook the Connect box acts on. */
export interface IActiveNotebook {
  path: string;
  /** null while the notebook has no kernel. */
  kernelId: string | null;
}

/** What the Spark views need to know about the open notebooks. */
export interface ISparkNotebooks {
  /** The active notebook changed, or a notebook's kernel did. */
  readonly changed: ISignal<unknown, void>;
  /** The notebook last active in the main area (null when none is open). */
  active(): IActiveNotebook | null;
  /** The path of the open notebook running this kernel. */
  pathOfKernel(kernelId: string): string | null;
  /** "[3] df.count()": the cell's execution count and first line, if its notebook is open. */
  cellLabel(kernelId: string, cellId: string): string | null;
}

const LABEL_CHARS = 60;

/** The cell's execution count and first line. */
export function labelOf(
  count: number | string | null | undefined,
  source: string
): string {
  const first = source.split('\n').find(l => l.trim()) ?? '';
  const line =
    first.length > LABEL_CHARS ? `${first.slice(0, LABEL_CHARS - 1)}…` : first;
  return `[${count ?? ' '}] ${line.trim()}`;
}

/** The open notebooks, through the notebook tracker. */
export class TrackedNotebooks implements ISparkNotebooks {
  constructor(private readonly _tracker: INotebookTracker) {
    _tracker.currentChanged.connect(this._emit, this);
    _tracker.widgetAdded.connect((_, panel) => this._follow(panel));
    _tracker.forEach(panel => this._follow(panel));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  active(): IActiveNotebook | null {
    const panel = this._tracker.currentWidget;
    if (!panel) {
      return null;
    }
    return {
      path: panel.context.path,
      kernelId: panel.sessionContext.session?.kernel?.id ?? null
    };
  }

  /** The open notebook running this kernel. */
  panelOfKernel(kernelId: string): NotebookPanel | null {
    return (
      this._tracker.find(
        p => p.sessionContext.session?.kernel?.id === kernelId
      ) ?? null
    );
  }

  pathOfKernel(kernelId: string): string | null {
    return this.panelOfKernel(kernelId)?.context.path ?? null;
  }

  cellLabel(kernelId: string, cellId: string): string | null {
    const panel = this.panelOfKernel(kernelId);
    const cell = panel?.content.widgets.find(c => c.model.id === cellId);
    if (!cell) {
      return null;
    }
    const code =
      cell.model.type === 'code' ? (cell.model as ICodeCellModel) : null;
    const count =
      code?.executionState === 'running' ? '*' : (code?.executionCount ?? null);
    return labelOf(count, cell.model.sharedModel.getSource());
  }

  private _follow(panel: NotebookPanel): void {
    panel.sessionContext.kernelChanged.connect(this._emit, this);
    panel.disposed.connect(this._emit, this);
  }

  private _emit(): void {
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
}
