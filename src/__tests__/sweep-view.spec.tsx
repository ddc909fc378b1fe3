import { ServerConnection } from '@jupyterlab/services';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { makeJob } from './fixtures';
import { requestAPI, sleep, until } from './spark-fixtures';
import { FakeSweepServer, finishedSweep, makeSweep } from './sweep-fixtures';
import { SweepAPI } from '../sweep/api';
import { VEGALITE_MIME } from '../sweep/chart';
import { groupSweeps, ISweepGroup } from '../sweep/group';
import { SweepModel } from '../sweep/model';
import { SweepView } from '../sweep/results';
import { SweepRow } from '../sweep/sweepRow';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const ID = 'ab12cd34ef56';
const GET = `sweeps/${ID}`;

/**
 * A rendermime registry as the view uses it: JupyterLab's Vega-Lite renderer stands in as a
 * widget that keeps the data it was given.
 */
class FakeRenderer extends Widget {
  data: any[] = [];
  async renderModel(model: any): Promise<void> {
    this.data.push(model.data[VEGALITE_MIME]);
    this.node.textContent = 'vega chart';
  }
}

function fakeRendermime(mimeTypes = [VEGALITE_MIME]) {
  const made: FakeRenderer[] = [];
  return {
    made,
    registry: {
      mimeTypes,
      createRenderer: (mime: string) => {
        expect(mime).toBe(VEGALITE_MIME);
        const r = new FakeRenderer();
        made.push(r);
        return r;
      }
    } as any
  };
}

let server: FakeSweepServer;
let model: SweepModel;

function newModel(): SweepModel {
  return new SweepModel({
    api: new SweepAPI(),
    id: ID,
    interval: 20,
    max: 40
  });
}

beforeEach(() => {
  server = new FakeSweepServer();
  requestAPI.mockReset();
  requestAPI.mockImplementation(server.handle);
  model = newModel();
});
afterEach(() => model.dispose());

describe('SweepModel', () => {
  it('polls while points are active and stops once the sweep is final', async () => {
    // Given a running sweep
    await model.start();
    expect(model.sweep?.state).toBe('running');
    expect(model.isPolling).toBe(true);
    await until(() => server.count('GET', GET) >= 3);
    // When it finishes
    server.sweep = finishedSweep();
    await until(() => model.sweep?.state === 'failed');
    // Then the poll stops: no more loads
    expect(model.isFinal).toBe(true);
    expect(model.isPolling).toBe(false);
    const loads = server.count('GET', GET);
    await sleep(150);
    expect(server.count('GET', GET)).toBe(loads);
  });

  it('follows the points again once the failed ones are resubmitted', async () => {
    server.sweep = finishedSweep();
    await model.start();
    expect(model.isPolling).toBe(false);
    await model.resubmit();
    expect(server.count('POST', `${GET}/resubmit`)).toBe(1);
    expect(model.sweep?.counts.pending).toBe(1);
    expect(model.isPolling).toBe(true);
    const loads = server.count('GET', GET);
    await until(() => server.count('GET', GET) > loads);
  });

  it('says why it cannot load, and backs off', async () => {
    requestAPI.mockRejectedValue(new Error('Not Found'));
    await model.start().catch(() => undefined);
    await until(() => model.error === 'Not Found');
    expect(model.sweep).toBeNull();
  });

  it('loads once for a burst of point changes', async () => {
    server.sweep = finishedSweep();
    await model.start();
    const loads = server.count('GET', GET);
    for (let i = 0; i < 50; i++) {
      model.refreshSoon(30);
    }
    await until(() => server.count('GET', GET) > loads);
    await sleep(100);
    expect(server.count('GET', GET)).toBe(loads + 1);
  });

  it('cancels every active point', async () => {
    await model.start();
    await model.cancel();
    expect(server.count('DELETE', GET)).toBe(1);
    expect(model.sweep?.state).toBe('cancelled');
    expect(model.isPolling).toBe(false);
  });
});

describe('SweepView', () => {
  let view: SweepView;
  let rendermime: ReturnType<typeof fakeRendermime>;
  const open = jest.fn();
  const notify = jest.fn();

  async function show(registry: any = undefined): Promise<HTMLElement> {
    rendermime = fakeRendermime();
    view = new SweepView(
      model,
      registry === undefined ? rendermime.registry : registry,
      { open, notify }
    );
    Widget.attach(view, document.body);
    await model.start();
    // the header, the table and the chart's controls are rendered (each its own widget)
    await until(() =>
      ['sweep-header', 'sweep-table'].every(
        id => !!view.node.querySelector(`[data-testid="${id}"]`)
      )
    );
    await sleep(20);
    return view.node;
  }

  afterEach(() => {
    view.dispose();
    open.mockReset();
    notify.mockReset();
  });

  const column = (node: HTMLElement, name: string) =>
    Array.from(node.querySelectorAll(`td[data-column="${name}"]`)).map(
      td => td.textContent
    );
  const header = (node: HTMLElement, name: string) =>
    Array.from(node.querySelectorAll<HTMLElement>('th')).find(th =>
      th.textContent!.startsWith(name)
    )!;

  it('shows name, notebook, counts and a bar of points done / failed / total', async () => {
    const node = await show();
    const head = node.querySelector('[data-testid="sweep-header"]')!;
    expect(head.querySelector('h2')!.textContent).toBe('train');
    expect(head.textContent).toContain('ana/train.ipynb on condor');
    expect(head.textContent).toContain('lr × seed');
    expect(head.textContent).toContain('1 engine submission (batch)');
    const bar = head.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('4');
    expect(bar.getAttribute('aria-valuemax')).toBe('6');
    expect(bar.getAttribute('aria-valuetext')).toBe('3 of 6 done, 1 failed');
    expect(
      (head.querySelector('.jp-SwanSweep-bar-done') as HTMLElement).style.width
    ).toBe('50%');
    expect(head.textContent).toContain('2 running');
  });

  it('sorts the table by a click on a header: numbers numerically, then descending', async () => {
    const node = await show();
    // points in order first; job_id is not a column
    expect(column(node, 'point')).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(node.querySelector('td[data-column="job_id"]')).toBeNull();
    header(node, 'val_loss').querySelector('button')!.click();
    await sleep(20);
    expect(column(node, 'val_loss')).toEqual([
      '1.1',
      '2.1',
      '10.1',
      '',
      '',
      ''
    ]);
    expect(header(node, 'val_loss').getAttribute('aria-sort')).toBe(
      'ascending'
    );
    header(node, 'val_loss').querySelector('button')!.click();
    await sleep(20);
    expect(column(node, 'val_loss')).toEqual([
      '10.1',
      '2.1',
      '1.1',
      '',
      '',
      ''
    ]);
    expect(header(node, 'val_loss').getAttribute('aria-sort')).toBe(
      'descending'
    );
    expect(header(node, 'lr').getAttribute('aria-sort')).toBe('none');
  });

  it("shows states as chips and opens a point's executed notebook", async () => {
    const node = await show();
    const chips = node.querySelectorAll(
      'td[data-column="state"] .jp-SwanML-badge'
    );
    expect(Array.from(chips).map(c => c.getAttribute('data-state'))).toEqual([
      'completed',
      'completed',
      'completed',
      'failed',
      'running',
      'running'
    ]);
    const links = node.querySelectorAll<HTMLButtonElement>(
      'td[data-column="notebook"] button'
    );
    expect(links).toHaveLength(3);
    links[1].click();
    expect(open).toHaveBeenCalledWith('swan-ml-outputs/train-job1/train.ipynb');
    expect(column(node, 'message')[3]).toBe('cell 3: ValueError: lr too large');
  });

  it('cancels, and resubmits only when some point failed', async () => {
    const node = await show();
    const button = (label: RegExp) =>
      Array.from(node.querySelectorAll('button')).find(b =>
        label.test(b.textContent!)
      ) as HTMLButtonElement;
    expect(button(/^Resubmit failed \(1\)$/).disabled).toBe(false);
    button(/^Cancel sweep$/).click();
    await until(() => model.sweep?.state === 'cancelled');
    await sleep(20);
    expect(button(/^Cancel sweep$/).disabled).toBe(true);
    // failed + cancelled can run again
    expect(button(/^Resubmit failed/).textContent).toBe('Resubmit failed (3)');
  });

  it('disables Resubmit failed when nothing failed, and says a refusal', async () => {
    const sweep = makeSweep();
    sweep.rows[3].state = 'completed';
    server.sweep = {
      ...sweep,
      counts: { ...sweep.counts, failed: 0, completed: 4 }
    };
    const node = await show();
    const resubmit = Array.from(node.querySelectorAll('button')).find(b =>
      b.textContent!.startsWith('Resubmit failed')
    )!;
    expect(resubmit.disabled).toBe(true);
    await view.header.model.resubmit().catch(e => notify(e.message));
    expect(notify).toHaveBeenCalledWith(
      'no failed or cancelled point to resubmit'
    );
  });

  it('charts a collected value against a parameter through the Vega-Lite renderer', async () => {
    const node = await show();
    expect(rendermime.made).toHaveLength(1);
    const spec = rendermime.made[0].data.pop();
    expect(spec.encoding.x.field).toBe('lr');
    expect(spec.encoding.y.field).toBe('val_loss');
    expect(spec.data.values).toHaveLength(3);
    expect(
      node.querySelector('[data-testid="sweep-chart"]')!.textContent
    ).toContain('vega chart');
    // choose another value and parameter: drawn again, by the same renderer
    await until(() => !!node.querySelector('[aria-label="Chart value"]'));
    const y = node.querySelector(
      '[aria-label="Chart value"]'
    ) as HTMLSelectElement;
    const x = node.querySelector(
      '[aria-label="Chart parameter"]'
    ) as HTMLSelectElement;
    expect(Array.from(y.options).map(o => o.value)).toEqual([
      'val_loss',
      'accuracy'
    ]);
    view.chart.choose({ y: 'accuracy', x: 'seed' });
    await sleep(20);
    expect(rendermime.made).toHaveLength(1);
    const again = rendermime.made[0].data.pop();
    expect(again.encoding.y.field).toBe('accuracy');
    expect(again.encoding.x.field).toBe('seed');
    expect(x.value).toBe('seed');
    // a poll that brings nothing new does not draw again
    const drawn = rendermime.made[0].data.length;
    await until(() => server.count('GET', GET) >= 3);
    expect(rendermime.made[0].data.length).toBe(drawn);
  });

  it('says so when JupyterLab has no Vega-Lite renderer', async () => {
    const node = await show({ mimeTypes: [], createRenderer: jest.fn() });
    expect(
      node.querySelector('[data-testid="sweep-chart"]')!.textContent
    ).toContain('No Vega-Lite renderer');
    expect(node.querySelector('table')).not.toBeNull();
  });

  it('disposes its model with it', async () => {
    await show();
    view.dispose();
    expect(model.isDisposed).toBe(true);
  });
});

describe('Download CSV', () => {
  const notify = jest.fn();
  const saved: { href: string; download: string }[] = [];
  let click: jest.SpyInstance;
  beforeEach(() => {
    saved.length = 0;
    (URL as any).createObjectURL = jest.fn(() => 'blob:csv-1');
    (URL as any).revokeObjectURL = jest.fn();
    // the browser's download: the temporary link's target and file name
    click = jest
      .spyOn(HTMLAnchorElement.prototype, 'click')
      .mockImplementation(function (this: HTMLAnchorElement) {
        saved.push({ href: this.href, download: this.download });
      });
  });
  afterEach(() => click.mockRestore());

  it('fetches the CSV with the server settings (token header) and saves it as a file', async () => {
    // Given a server that wants its token in a header (no cookie)
    const requests: Request[] = [];
    const fetch = jest.fn(async (request: Request) => {
      requests.push(request);
      return new Response('point,lr,state\n0,0.01,completed\n', {
        status: 200,
        headers: { 'Content-Type': 'text/csv' }
      });
    });
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://lab.test/user/ana/',
      token: 'secret',
      fetch: fetch as any
    });
    const csvModel = new SweepModel({ api: new SweepAPI(settings), id: ID });
    await csvModel.start(); // GET sweeps/{id} goes through requestAPI (the fake server)
    const view = new SweepView(csvModel, null, { open: jest.fn(), notify });
    Widget.attach(view, document.body);
    await until(() => !!view.node.querySelector('.jp-SwanSweep-csv'));
    // When Download CSV is pressed
    const button = view.node.querySelector(
      '.jp-SwanSweep-csv'
    ) as HTMLButtonElement;
    expect(button.tagName).toBe('BUTTON');
    expect(button.textContent).toBe('Download CSV');
    button.click();
    await until(() => saved.length > 0);
    // Then one GET of the CSV with the token, saved as "<sweep name>.csv" from a Blob URL
    expect(requests).toHaveLength(1);
    expect(requests[0].method).toBe('GET');
    expect(requests[0].url).toMatch(
      new RegExp(
        `^http://lab.test/user/ana/swan-ml-ext/sweeps/${ID}\\?format=csv`
      )
    );
    expect(requests[0].headers.get('Authorization')).toBe('token secret');
    expect(saved).toEqual([{ href: 'blob:csv-1', download: 'train.csv' }]);
    const blob = (URL.createObjectURL as jest.Mock).mock.calls[0][0] as Blob;
    expect(await blob.text()).toBe('point,lr,state\n0,0.01,completed\n');
    // the temporary link is gone, and its URL revoked once the browser took it
    expect(document.querySelector('a[download]')).toBeNull();
    await until(() => (URL.revokeObjectURL as jest.Mock).mock.calls.length > 0);
    expect(URL.revokeObjectURL).toHaveBeenCalledWith('blob:csv-1');
    expect(notify).not.toHaveBeenCalled();
    view.dispose();
  });

  it('says why a download was refused', async () => {
    const fetch = jest.fn(
      async () =>
        new Response(JSON.stringify({ message: 'sweep not found' }), {
          status: 404
        })
    );
    const api = new SweepAPI(
      ServerConnection.makeSettings({
        baseUrl: 'http://lab.test/',
        fetch: fetch as any
      })
    );
    await expect(api.downloadCsv(ID, 'x.csv')).rejects.toThrow(
      'sweep not found'
    );
    expect(saved).toEqual([]);
    expect(URL.createObjectURL).not.toHaveBeenCalled();
  });
});

describe('SweepRow', () => {
  it('shows a sweep as one row with its progress, and opens its results', async () => {
    const point = (id: string, p: number, state: string) =>
      makeJob(id, {
        sweep: { id: 'S', point: p },
        state,
        name: 'train'
      } as any);
    const [item] = groupSweeps(
      [
        point('4', 3, 'running'),
        point('3', 2, 'failed'),
        point('2', 1, 'completed'),
        point('1', 0, 'completed')
      ],
      new Map()
    );
    const onOpen = jest.fn();
    const host = ReactWidget.create(
      <ul>
        <SweepRow
          sweep={(item as { sweep: ISweepGroup }).sweep}
          onOpen={onOpen}
        />
      </ul>
    );
    Widget.attach(host, document.body);
    host.update();
    await sleep(30);
    const li = host.node.querySelector('li')!;
    expect(li.getAttribute('aria-label')).toBe('train sweep running');
    const bar = li.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuetext')).toBe('2 of 4 done, 1 failed');
    expect(li.textContent).toContain('2 of 4 done, 1 failed');
    li.querySelector('button')!.click();
    expect(onOpen).toHaveBeenCalledWith('S');
    host.dispose();
  });
});
