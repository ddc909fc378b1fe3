/**
 * The "Sweep" section of the submit dialog (its values and their reading: grid.ts): per
 * parameter a list or a range, the number of points shown live, the notebook variables to
 * bring back from each point.
 */
import * as React from 'react';

import {
  AxisMode,
  axisValues,
  canRange,
  countText,
  ISweepAxis,
  ISweepValues,
  readSweep
} from './grid';

function AxisFields(props: {
  axis: ISweepAxis;
  error?: string;
  onChange: (axis: ISweepAxis) => void;
}): JSX.Element {
  const { axis } = props;
  const id = `swan-sweep-${axis.name}`;
  const set = (change: Partial<ISweepAxis>) =>
    props.onChange({ ...axis, ...change });
  const read = axisValues(axis);
  const preview =
    'values' in read && read.values
      ? read.values.length > 8
        ? `${read.values.length} values: ${read.values
            .slice(0, 3)
            .map(v => JSON.stringify(v))
            .join(
              ', '
            )} … ${JSON.stringify(read.values[read.values.length - 1])}`
        : read.values.map(v => JSON.stringify(v)).join(', ')
      : '';
  const input = (
    key: 'list' | 'start' | 'stop' | 'step',
    label: string,
    placeholder: string
  ) => (
    <input
      className="jp-mod-styled"
      aria-label={`${axis.name} ${label}`}
      aria-invalid={!!props.error}
      placeholder={placeholder}
      value={axis[key]}
      onChange={e => set({ [key]: e.target.value })}
    />
  );
  return (
    <div className="jp-SwanSweep-axis" data-testid={`sweep-axis-${axis.name}`}>
      <label htmlFor={id}>
        {axis.name} <span className="jp-SwanML-hint">({axis.type})</span>
      </label>
      <select
        id={id}
        className="jp-mod-styled"
        aria-label={`Sweep ${axis.name}`}
        value={axis.mode}
        onChange={e => set({ mode: e.target.value as AxisMode })}
      >
        <option value="single">one value</option>
        <option value="list">list</option>
        <option value="range" disabled={!canRange(axis.type)}>
          range
        </option>
      </select>
      {axis.mode === 'list' &&
        input(
          'list',
          'values',
          axis.type === 'str' ? 'a, b, "c, d"' : '0.01, 0.02, 0.05'
        )}
      {axis.mode === 'range' && (
        <span className="jp-SwanSweep-range">
          from {input('start', 'from', '0.01')}
          to {input('stop', 'to', '0.05')}
          step {input('step', 'step', '0.01')}
        </span>
      )}
      {axis.mode !== 'single' && !props.error && preview && (
        <span className="jp-SwanML-hint jp-SwanSweep-values">→ {preview}</span>
      )}
      {props.error && (
        <span className="jp-SwanML-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}

/**
 * The Sweep section (closed by default: the dialog submits a plain job). `variables`: the
 * notebook's names offered for collection.
 */
export function SweepSection(props: {
  values: ISweepValues;
  variables: readonly string[];
  onChange: (values: ISweepValues) => void;
  /** Errors to show (the dialog's last check); the live reading is used when absent. */
  errors?: Record<string, string>;
}): JSX.Element {
  const { values, variables } = props;
  const reading = readSweep(values);
  const errors = props.errors ?? reading.errors;
  const set = (change: Partial<ISweepValues>) =>
    props.onChange({ ...values, ...change });
  const toggle = (name: string, on: boolean) =>
    set({
      collect: on
        ? [...values.collect, name]
        : values.collect.filter(n => n !== name)
    });
  return (
    <fieldset className="jp-SwanSweep-form" data-testid="sweep-section">
      <legend>
        <button
          type="button"
          className="jp-mod-styled jp-SwanSweep-toggle"
          aria-expanded={values.open}
          onClick={() => set({ open: !values.open })}
        >
          <span aria-hidden="true">{values.open ? '▾ ' : '▸ '}</span>
          Sweep
        </button>
      </legend>
      {values.open && (
        <>
          <p className="jp-SwanML-hint">
            Run the notebook once per combination of the values below (a grid);
            the parameters left at one value keep the value above.
          </p>
          {values.axes.length === 0 && (
            <p className="jp-SwanML-hint">
              No cell tagged <code>parameters</code>: nothing to sweep.
            </p>
          )}
          {values.axes.map((axis, i) => (
            <AxisFields
              key={axis.name}
              axis={axis}
              error={errors[`sweep-${axis.name}`]}
              onChange={a =>
                set({
                  axes: values.axes.map((x, j) => (j === i ? a : x))
                })
              }
            />
          ))}
          <p
            className="jp-SwanSweep-count"
            data-testid="sweep-count"
            aria-live="polite"
          >
            {countText(values, reading)}
          </p>
          <div
            className="jp-SwanSweep-collect"
            role="group"
            aria-label="Collect"
          >
            <span className="jp-SwanSweep-collectTitle">
              Collect from each point
            </span>
            {variables.map(name => (
              <label key={name} className="jp-SwanSweep-chip">
                <input
                  type="checkbox"
                  checked={values.collect.includes(name)}
                  onChange={e => toggle(name, e.target.checked)}
                />
                {name}
              </label>
            ))}
            <input
              className="jp-mod-styled"
              aria-label="Other names to collect"
              placeholder={
                variables.length ? 'other names' : 'val_loss, accuracy'
              }
              value={values.otherCollect}
              aria-invalid={!!errors.collect}
              onChange={e => set({ otherCollect: e.target.value })}
            />
            {errors.collect && (
              <span className="jp-SwanML-error" role="alert">
                {errors.collect}
              </span>
            )}
          </div>
        </>
      )}
    </fieldset>
  );
}
