/**
 * The chart of the results view: two selects (a collected value against a parameter) and the
 * spec drawn by the rendermime registry's Vega-Lite renderer (JupyterLab's own).
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { chartAxes, chartChoices, chartSpec, VEGALITE_MIME } from './chart';
import { SweepModel } from './model';

/** What a renderer draws: our own spec, trusted (it holds no code). */
function mimeModel(spec: Record<string, unknown>): IRenderMime.IMimeModel {
  return {
    trusted: true,
    data: { [VEGALITE_MIME]: spec as any },
    metadata: {},
    setData: () => undefined
  };
}

/** One axis's select, with its text before it (`label`: its accessible name). */
function AxisSelect(props: {
  text: string;
  label: string;
  value: string;
  choices: readonly string[];
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <label>
      {props.text}{' '}
      <select
        className="jp-mod-styled"
        aria-label={props.label}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.choices.map(c => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The two selects of the chart: a collected value against a parameter. */
class ChartControls extends ReactWidget {
  constructor(readonly chart: SweepChart) {
    super();
    this.addClass('jp-SwanSweep-chartControls');
  }

  render(): JSX.Element {
    const sweep = this.chart.model.sweep;
    if (!sweep) {
      return <></>;
    }
    const choices = chartChoices(sweep);
    const axes = chartAxes(choices, this.chart.wanted);
    if (!axes) {
      return (
        <p className="jp-SwanML-hint">
          {sweep.collect.length
            ? 'The chart shows once a point brought back a number.'
            : 'Nothing is collected from the points: no chart.'}
        </p>
      );
    }
    return (
      <div className="jp-SwanSweep-axes">
        <AxisSelect
          text="Value"
          label="Chart value"
          value={axes.y}
          choices={choices.y}
          onChange={y => this.chart.choose({ y })}
        />
        <AxisSelect
          text="against"
          label="Chart parameter"
          value={axes.x}
          choices={choices.x}
          onChange={x => this.chart.choose({ x })}
        />
      </div>
    );
  }
}

/**
 * The chart: the spec goes to the rendermime registry's Vega-Lite renderer; drawn again only
 * when the spec changed (a poll that brings nothing new leaves it alone).
 */
export class SweepChart extends Panel {
  constructor(
    readonly model: SweepModel,
    readonly rendermime: IRenderMimeRegistry | null
  ) {
    super();
    this.addClass('jp-SwanSweep-chart');
    this.node.setAttribute('data-testid', 'sweep-chart');
    this._controls = new ChartControls(this);
    this.addWidget(this._controls);
    this._note = new Widget();
    this._note.addClass('jp-SwanML-hint');
    this.addWidget(this._note);
    model.changed.connect(this._redraw, this);
    this._redraw();
  }

  /** The axes asked for (kept while the sweep has them). */
  wanted: { x?: string; y?: string } = {};

  /** The spec drawn last (null: none). */
  get spec(): Record<string, unknown> | null {
    return this._spec;
  }

  choose(axes: { x?: string; y?: string }): void {
    this.wanted = { ...this.wanted, ...axes };
    this._redraw();
  }

  private _redraw(): void {
    this._controls.update();
    const sweep = this.model.sweep;
    const axes = sweep ? chartAxes(chartChoices(sweep), this.wanted) : null;
    const spec = sweep && axes ? chartSpec(sweep, axes.x, axes.y) : null;
    const key = spec ? JSON.stringify(spec) : '';
    if (key === this._key) {
      return;
    }
    this._key = key;
    this._spec = spec;
    if (!spec) {
      this._renderer?.hide();
      this._note.node.textContent = '';
      return;
    }
    const renderer = this._rendererFor();
    if (!renderer) {
      this._note.node.textContent =
        'No Vega-Lite renderer in this JupyterLab: the chart cannot be drawn (the table has the values).';
      return;
    }
    renderer.show();
    renderer.renderModel(mimeModel(spec)).catch(reason => {
      this._note.node.textContent = `The chart could not be drawn: ${reason}`;
    });
  }

  private _rendererFor(): IRenderMime.IRenderer | null {
    if (this._renderer) {
      return this._renderer;
    }
    const rendermime = this.rendermime;
    if (!rendermime || !rendermime.mimeTypes.includes(VEGALITE_MIME)) {
      return null;
    }
    this._renderer = rendermime.createRenderer(VEGALITE_MIME);
    this._renderer.addClass('jp-SwanSweep-plot');
    this.insertWidget(1, this._renderer);
    return this._renderer;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._redraw, this);
    super.dispose();
  }

  private _controls: ChartControls;
  private _key = '';
  private _note: Widget;
  private _renderer: IRenderMime.IRenderer | null = null;
  private _spec: Record<string, unknown> | null = null;
}
