import { Widget } from '@lumino/widgets';

import { ICellJobs, percentDone } from './progress';

/**
 * A compact bar under a cell's input summarising the Spark jobs that cell started; a single
 * "done" line once none runs. A view only: it lives in the cell widget's layout, the notebook
 * model (outputs, metadata) is never touched.
 */
export class CellSparkBar extends Widget {
  constructor(private readonly _onKill: (group: ICellJobs) => void) {
    super();
    this.addClass('jp-SwanSpark-cellbar');
    this.node.dataset.testid = 'spark-cell-progress';
    this.node.setAttribute('role', 'status');
  }

  get group(): ICellJobs | null {
    return this._group;
  }

  render(group: ICellJobs): void {
    this._group = group;
    const { progress: p } = group;
    const running = group.running > 0;
    const state = running ? 'running' : group.failed ? 'failed' : 'done';
    this.node.dataset.state = state;
    this.node.classList.toggle('jp-mod-done', !running);
    const jobs = `${group.jobs.length} Spark ${group.jobs.length === 1 ? 'job' : 'jobs'}`;
    const tasks = `${p.done}/${p.total} tasks${p.skipped ? ` (${p.skipped} skipped)` : ''}`;
    let text: string;
    if (running) {
      const ids = group.jobs
        .filter(j => j.status === 'RUNNING')
        .map(j => j.job_id);
      text = `Spark job ${ids.map(i => `#${i}`).join(', ')} running · ${tasks}${
        p.active ? ` · ${p.active} active` : ''
      }${p.failed ? ` · ${p.failed} failed` : ''}`;
    } else if (group.failed) {
      text = `✗ ${jobs}, ${group.failed} failed · ${tasks}`;
    } else {
      text = `✓ ${jobs} done · ${tasks}`;
    }
    // Every model change re-renders every bar: rebuild the DOM only when it would differ.
    const key = `${text}|${p.done}|${p.active}|${p.failed}|${p.total}`;
    if (key === this._key) {
      return;
    }
    this._key = key;
    this.node.replaceChildren();
    if (running) {
      this.node.appendChild(bar(group));
    }
    const label = document.createElement('span');
    label.className = 'jp-SwanSpark-cellbar-text';
    label.textContent = text;
    this.node.appendChild(label);
    if (running) {
      const kill = document.createElement('button');
      kill.className = 'jp-SwanSpark-kill';
      kill.textContent = 'Kill';
      kill.title = 'Kill the Spark jobs this cell is running';
      kill.dataset.testid = 'spark-cell-kill';
      kill.onclick = () => this._onKill(this._group ?? group);
      this.node.appendChild(kill);
    }
  }

  private _group: ICellJobs | null = null;
  private _key = '';
}

function bar(group: ICellJobs): HTMLElement {
  const p = group.progress;
  const node = document.createElement('div');
  node.className = 'jp-SwanSpark-bar';
  node.setAttribute('role', 'progressbar');
  node.setAttribute('aria-valuemin', '0');
  node.setAttribute('aria-valuemax', '100');
  node.setAttribute('aria-valuenow', String(percentDone(p)));
  node.setAttribute('aria-label', 'Spark tasks of this cell');
  for (const [cls, n] of [
    ['done', p.done],
    ['active', p.active],
    ['failed', p.failed]
  ] as const) {
    const part = document.createElement('span');
    part.className = `jp-SwanSpark-bar-${cls}`;
    part.style.width = `${p.total > 0 ? (100 * n) / p.total : 0}%`;
    node.appendChild(part);
  }
  return node;
}
