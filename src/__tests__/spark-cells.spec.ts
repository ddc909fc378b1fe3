import { CodeCell, CodeCellModel } from '@jupyterlab/cells';
import { NBTestUtils } from '@jupyterlab/cells/lib/testutils';
import { defaultRenderMime } from '@jupyterlab/rendermime/lib/testutils';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  FakeSparkServer,
  makeSession,
  makeSparkJob,
  requestAPI,
  runningJobs,
  until
} from './spark-fixtures';
import { CellProgress } from '../spark/cellProgress';
import { SparkModel } from '../spark/model';
import { createSparkUITab, markEnded, sparkUIUrl } from '../spark/uiTab';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

function codeCell(id: string, source: string): CodeCell {
  const model = new CodeCellModel({ id });
  model.sharedModel.setSource(source);
  const cell = new CodeCell({
    model,
    rendermime: defaultRenderMime(),
    contentFactory: NBTestUtils.createCodeCellFactory()
  }).initializeState();
  Widget.attach(cell, document.body);
  return cell;
}

/** The parts of a notebook panel and tracker that CellProgress uses. */
function fakeTracker(kernelId: string, cells: CodeCell[]) {
  const panel = {
    sessionContext: {
      session: { kernel: { id: kernelId } },
      kernelChanged: new Signal<any, any>({})
    },
    context: { ready: Promise.resolve() },
    content: {
      widgets: cells,
      model: { cells: { changed: new Signal<any, any>({}) } }
    },
    disposed: new Signal<any, any>({})
  };
  return {
    widgetAdded: new Signal<any, any>({}),
    forEach: (fn: (p: any) => void) => fn(panel),
    panel
  };
}

describe('CellProgress', () => {
  it('puts a bar under the input of each cell that started Spark jobs', async () => {
    // Given a session of kernel-s1 where cell-a runs job 1 and cell-b's job failed
    const server = new FakeSparkServer();
    requestAPI.mockImplementation(server.handle);
    server.sessions = [makeSession('s1')];
    server.jobs = { s1: runningJobs() };
    const model = new SparkModel({ slowInterval: 100000 });
    await model.refresh();
    const a = codeCell('cell-a', 'spark.range(10**8).count()');
    const b = codeCell('cell-b', 'bad()');
    const c = codeCell('cell-c', 'print(1)');
    const before = [a, b, c].map(x => JSON.stringify(x.model.toJSON()));
    const tracker = fakeTracker('kernel-s1', [a, b, c]);
    // When the notebook is followed
    const progress = new CellProgress(model, tracker as any);
    await until(
      () => !!a.node.querySelector('[data-testid="spark-cell-progress"]')
    );
    // Then its session's jobs are watched and each cell with jobs has a bar under its input
    expect(server.paths()).toContain('spark/sessions/s1/jobs');
    const barOf = (cell: CodeCell) =>
      cell.node.querySelector(
        '[data-testid="spark-cell-progress"]'
      ) as HTMLElement | null;
    const barA = barOf(a)!;
    expect(barA.dataset.state).toBe('running');
    expect(barA.previousElementSibling!.classList).toContain(
      'jp-Cell-inputWrapper'
    );
    expect(barA.textContent).toContain(
      'Spark job #1 running · 7/14 tasks · 2 active'
    );
    expect(
      barA.querySelector('[role="progressbar"]')!.getAttribute('aria-valuenow')
    ).toBe('50');
    expect(barOf(b)!.dataset.state).toBe('failed');
    expect(barOf(c)).toBeNull();
    // and Kill in the bar kills the cell's running job
    (
      barA.querySelector('[data-testid="spark-cell-kill"]') as HTMLElement
    ).click();
    await until(() => server.paths('POST').length === 1);
    expect(server.paths('POST')).toEqual(['spark/sessions/s1/jobs/1/kill']);
    // When the job finishes, the bar becomes one "done" line
    server.jobs = {
      s1: [
        makeSparkJob(0),
        makeSparkJob(1, { num_tasks: 10, num_completed_tasks: 10 })
      ]
    };
    server.sessions = [
      makeSession('s1', {
        summary: { ...server.sessions[0].summary, jobs_total: 2 }
      })
    ];
    await model.refresh();
    await until(() => barOf(a)?.dataset.state === 'done');
    expect(barOf(a)!.dataset.state).toBe('done');
    expect(barOf(a)!.textContent).toBe('✓ 2 Spark jobs done · 14/14 tasks');
    expect(barOf(a)!.previousElementSibling!.classList).toContain(
      'jp-Cell-inputWrapper'
    );
    expect(barOf(a)!.querySelector('[role="progressbar"]')).toBeNull();
    expect(barOf(b)).toBeNull();
    // and the notebook model was never touched
    expect([a, b, c].map(x => JSON.stringify(x.model.toJSON()))).toEqual(
      before
    );
    // When the setting turns the bars off, they go; back on, they return
    progress.enabled = false;
    await until(() => barOf(a) === null);
    expect(barOf(a)).toBeNull();
    progress.enabled = true;
    await until(() => barOf(a) !== null);
    expect(barOf(a)!.dataset.state).toBe('done');
    progress.dispose();
    expect(barOf(a)).toBeNull();
    model.dispose();
  });
});

describe('Spark UI tab', () => {
  it('opens the session’s UI through the server route, sandboxed', () => {
    const session = makeSession('s1');
    expect(sparkUIUrl('http://127.0.0.1:8888/user/a/', session)).toBe(
      'http://127.0.0.1:8888/user/a/swan-ml-ext/spark/ui/s1/jobs/'
    );
    const tab = createSparkUITab('http://127.0.0.1:8888/', session);
    const iframe = tab.content.node.querySelector('iframe')!;
    expect(iframe.getAttribute('src')).toBe(
      'http://127.0.0.1:8888/swan-ml-ext/spark/ui/s1/jobs/'
    );
    expect(iframe.getAttribute('sandbox')!.split(' ').sort()).toEqual([
      'allow-forms',
      'allow-modals',
      'allow-same-origin',
      'allow-scripts'
    ]);
    expect(tab.id).toBe('swan-ml-ext-spark-ui-s1');
    expect(tab.title.label).toBe('Spark UI: local local-1764540000s1');
    markEnded(tab);
    markEnded(tab);
    expect(tab.title.label).toBe('Spark UI: local local-1764540000s1 (ended)');
    tab.dispose();
  });
});
