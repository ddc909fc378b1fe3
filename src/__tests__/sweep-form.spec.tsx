import { ReactWidget } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { sleep } from './spark-fixtures';
import { enter } from './testutils';
import { IParam } from '../params';
import {
  axisValues,
  initialSweep,
  ISweepAxis,
  ISweepValues,
  notebookVariables,
  rangeValues,
  readSweep,
  splitList,
  sweepRequest
} from '../sweep/grid';
import { SweepSection } from '../sweep/sweepForm';

const PARAMS: IParam[] = [
  { name: 'lr', type: 'float', text: '0.01' },
  { name: 'seed', type: 'int', text: '1' },
  { name: 'label', type: 'str', text: 'x' }
];

function axis(over: Partial<ISweepAxis>): ISweepAxis {
  return {
    name: 'lr',
    type: 'float',
    mode: 'list',
    list: '',
    start: '',
    stop: '',
    step: '',
    ...over
  };
}

/** The section open with lr as a list and seed as a range. */
function grid(): ISweepValues {
  const values = initialSweep(PARAMS);
  values.open = true;
  values.axes[0] = { ...values.axes[0], mode: 'list', list: '0.01, 0.02' };
  values.axes[1] = {
    ...values.axes[1],
    mode: 'range',
    start: '1',
    stop: '3',
    step: '1'
  };
  return values;
}

describe('sweep form values', () => {
  it('splits lists at top-level commas only', () => {
    expect(splitList('0.01, 0.02,0.05 ,')).toEqual(['0.01', '0.02', '0.05']);
    expect(splitList('[1, 2], [3]')).toEqual(['[1, 2]', '[3]']);
    expect(splitList('a, "b, c", \'d\'')).toEqual(['a', 'b, c', 'd']);
    expect(splitList('  ')).toEqual([]);
  });

  it('types list values like the parameter', () => {
    expect(axisValues(axis({ list: '0.01, 1e-3, 2' }))).toEqual({
      values: [0.01, 0.001, 2]
    });
    expect(axisValues(axis({ type: 'int', list: '1, 2' }))).toEqual({
      values: [1, 2]
    });
    expect(axisValues(axis({ type: 'bool', list: 'true,false' }))).toEqual({
      values: [true, false]
    });
    expect(axisValues(axis({ type: 'str', list: 'a, 1' }))).toEqual({
      values: ['a', '1']
    });
    expect(
      axisValues(axis({ type: 'json', list: '[1, 2], {"a": 1}' }))
    ).toEqual({ values: [[1, 2], { a: 1 }] });
    expect(axisValues(axis({ mode: 'single' }))).toEqual({ values: null });
  });

  it('says what is wrong with a list', () => {
    expect(axisValues(axis({ type: 'int', list: '1, 2.5' }))).toEqual({
      error: 'lr must be an integer: "2.5"'
    });
    expect(axisValues(axis({ list: '0.1, 0.10' }))).toEqual({
      error: '0.10 is given twice'
    });
    expect(axisValues(axis({ list: ' , ' }))).toEqual({
      error: 'give lr at least one value, e.g. 1, 2, 3'
    });
  });

  it('makes ranges with both ends, exact decimals, either direction', () => {
    expect(rangeValues('0.01', '0.05', '0.01', false)).toEqual({
      values: [0.01, 0.02, 0.03, 0.04, 0.05]
    });
    expect(rangeValues('0', '1', '0.1', false)).toEqual({
      values: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]
    });
    expect(rangeValues('3', '1', '-1', true)).toEqual({ values: [3, 2, 1] });
    expect(rangeValues('0', '10', '4', true)).toEqual({ values: [0, 4, 8] });
  });

  it('refuses ranges that cannot end or are not numbers', () => {
    expect(rangeValues('1', '3', '0', true)).toEqual({
      error: 'step must not be 0'
    });
    expect(rangeValues('3', '1', '1', true)).toEqual({
      error: 'step must be negative to go from 3 to 1'
    });
    expect(rangeValues('1', 'x', '1', false)).toEqual({
      error: 'to must be a number'
    });
    expect(rangeValues('1', '2', '0.5', true)).toEqual({
      error: 'step must be an integer'
    });
    expect('error' in rangeValues('0', '1', '1e-9', false)).toBe(true);
  });

  it('reads the grid, its point count and the names to collect', () => {
    const values = grid();
    values.collect = ['val_loss'];
    values.otherCollect = 'accuracy, val_loss';
    const reading = readSweep(values);
    expect(reading).toEqual({
      sweep: { lr: [0.01, 0.02], seed: [1, 2, 3] },
      collect: ['val_loss', 'accuracy'],
      count: 6,
      errors: {}
    });
  });

  it('is no sweep while closed or with every parameter at one value', () => {
    const closed = { ...grid(), open: false };
    expect(readSweep(closed).sweep).toBeNull();
    const single = { ...initialSweep(PARAMS), open: true };
    expect(readSweep(single)).toMatchObject({ sweep: null, count: 0 });
  });

  it('names the field that is wrong', () => {
    const values = grid();
    values.axes[1] = { ...values.axes[1], step: '0' };
    values.otherCollect = 'ok, 2bad, class';
    const reading = readSweep(values);
    expect(reading.errors).toEqual({
      'sweep-seed': 'step must not be 0',
      collect: 'not a Python name: 2bad, class'
    });
  });

  it('turns the job request into the body of POST sweeps', () => {
    const request = {
      notebook: 'ana/train.ipynb',
      backend: 'condor',
      parameters: { lr: 0.01, seed: 1, label: 'x' },
      resources: { cpus: 1 }
    };
    const values = grid();
    values.collect = ['val_loss'];
    expect(sweepRequest(request, readSweep(values))).toEqual({
      notebook: 'ana/train.ipynb',
      backend: 'condor',
      // swept parameters leave `parameters`; the others keep their one value
      parameters: { label: 'x' },
      resources: { cpus: 1 },
      sweep: { lr: [0.01, 0.02], seed: [1, 2, 3] },
      collect: ['val_loss']
    });
    expect(sweepRequest(request, readSweep(initialSweep(PARAMS)))).toBeNull();
    values.otherCollect = '1x';
    expect(sweepRequest(request, readSweep(values))).toBeNull();
  });
});

describe("the notebook's variables", () => {
  const nb = (...sources: string[]) => ({
    cells: [
      { cell_type: 'markdown', source: 'loss = 1' },
      ...sources.map(source => ({ cell_type: 'code', source }))
    ]
  });

  it('are the top-level assignment targets, first seen first', () => {
    const notebook = nb(
      'lr = 0.01\nseed = 1',
      'import numpy as np\nmodel = fit(lr)\nval_loss, accuracy = evaluate(model)\n',
      'history: list = []\nepochs += 1\nif val_loss == 2:\n    inner = 3\n_private = 1',
      'x == 3\ny <= 2\nprint(a=1)\nval_loss = val_loss * 2'
    );
    expect(notebookVariables(notebook, ['lr', 'seed'])).toEqual([
      'model',
      'val_loss',
      'accuracy',
      'history',
      'epochs'
    ]);
  });

  it('skip text inside triple-quoted strings and source given as lines', () => {
    const notebook = {
      cells: [
        {
          cell_type: 'code',
          source: ['doc = """\n', 'not_a_var = 1\n', '"""\n', 'after = 2\n']
        }
      ]
    };
    expect(notebookVariables(notebook)).toEqual(['doc', 'after']);
    expect(notebookVariables(null)).toEqual([]);
  });
});

/** A widget around the section, holding its values as the dialog does. */
class Host extends ReactWidget {
  values: ISweepValues = initialSweep(PARAMS);
  render(): JSX.Element {
    return (
      <SweepSection
        values={this.values}
        variables={['val_loss', 'accuracy']}
        onChange={v => {
          this.values = v;
          this.update();
        }}
      />
    );
  }
}

describe('the Sweep section', () => {
  let host: Host;
  const $ = <T extends Element = HTMLInputElement>(selector: string): T =>
    host.node.querySelector(selector) as T;
  const byLabel = <T extends Element = HTMLInputElement>(label: string): T =>
    $<T>(`[aria-label="${label}"]`);

  beforeEach(async () => {
    host = new Host();
    Widget.attach(host, document.body);
    host.update();
    await sleep(20);
  });
  afterEach(() => host.dispose());

  it('opens, counts the points live and offers the variables to collect', async () => {
    // closed: nothing but the toggle
    expect(byLabel('Sweep lr')).toBeNull();
    ($('button[aria-expanded]') as HTMLButtonElement).click();
    await sleep(20);
    expect(host.values.open).toBe(true);
    expect($('[data-testid="sweep-count"]').textContent).toBe(
      'No parameter swept: one job.'
    );
    // lr as a list of 2
    await enter(byLabel<HTMLSelectElement>('Sweep lr'), 'list');
    await enter(byLabel('lr values'), '0.01, 0.02');
    expect($('[data-testid="sweep-count"]').textContent).toBe('2 points');
    expect($('.jp-SwanSweep-values').textContent).toBe('→ 0.01, 0.02');
    // seed as a range 1..3
    await enter(byLabel<HTMLSelectElement>('Sweep seed'), 'range');
    await enter(byLabel('seed from'), '1');
    await enter(byLabel('seed to'), '3');
    await enter(byLabel('seed step'), '1');
    expect($('[data-testid="sweep-count"]').textContent).toBe(
      '2 × 3 = 6 points'
    );
    // a str parameter cannot take a range
    const label = byLabel<HTMLSelectElement>('Sweep label');
    expect(
      (label.querySelector('option[value="range"]') as HTMLOptionElement)
        .disabled
    ).toBe(true);
    // collect: a variable ticked
    const boxes = host.node.querySelectorAll<HTMLInputElement>(
      '.jp-SwanSweep-collect input[type="checkbox"]'
    );
    expect(Array.from(boxes).map(b => b.parentElement!.textContent)).toEqual([
      'val_loss',
      'accuracy'
    ]);
    boxes[1].click();
    await sleep(20);
    expect(readSweep(host.values)).toMatchObject({
      sweep: { lr: [0.01, 0.02], seed: [1, 2, 3] },
      collect: ['accuracy'],
      count: 6
    });
  });

  it('shows what is wrong next to the field', async () => {
    ($('button[aria-expanded]') as HTMLButtonElement).click();
    await sleep(20);
    await enter(byLabel<HTMLSelectElement>('Sweep seed'), 'list');
    await enter(byLabel('seed values'), '1, x');
    const alert = $('[data-testid="sweep-axis-seed"] [role="alert"]');
    expect(alert.textContent).toBe('seed must be an integer: "x"');
    expect($('[data-testid="sweep-count"]').textContent).toBe(
      'Fix the values to see the number of points.'
    );
    await enter(byLabel('Other names to collect'), 'not valid');
    expect($('.jp-SwanSweep-collect [role="alert"]').textContent).toBe(
      'not a Python name: not valid'
    );
  });
});
