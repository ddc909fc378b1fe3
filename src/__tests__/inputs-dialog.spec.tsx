import { IJobCheck, IJobRequest } from '../api';
import { JobsModel } from '../model';
import { ISubmitDefaults, SubmitForm } from '../submit/dialog';
import { makeBackends, makeJob } from './fixtures';
import { detected, workspace } from './inputs-fixtures';
import { requestAPI, sleep } from './spark-fixtures';
import { enter, rendered } from './testutils';
import {
  checkDelay,
  IOpenedDialog,
  monitorOf,
  openDialog
} from './widget-fixtures';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const BACKENDS = makeBackends();
/** What a test opened: disposed after it, also when it fails (dialogs queue otherwise). */
const opens: { dispose(): void }[] = [];
afterEach(() => opens.splice(0).forEach(w => w.dispose()));

async function click(node: HTMLElement, label: string): Promise<void> {
  const button = Array.from(node.querySelectorAll('button')).find(
    b => b.getAttribute('aria-label') === label || b.textContent === label
  );
  if (!button) {
    throw new Error(`no button ${label}`);
  }
  button.click();
  await sleep(30);
}

function section(node: HTMLElement): HTMLElement {
  return node.querySelector(
    '[aria-label="Files sent with the job"]'
  ) as HTMLElement;
}

/** The rows: path, size (or why not sent), where it came from. */
function rows(node: HTMLElement): string[][] {
  return Array.from(
    section(node).querySelectorAll('[aria-label="Inputs"] > li')
  ).map(li =>
    [
      '.jp-SwanInputs-path',
      '.jp-SwanInputs-size',
      '.jp-SwanInputs-origin',
      '.jp-SwanInputs-problem'
    ]
      .map(s => li.querySelector(s)?.textContent ?? '')
      .filter(Boolean)
  );
}

function total(node: HTMLElement): string {
  return (
    section(node).querySelector('[aria-label="Total sent"]')?.textContent ?? ''
  );
}

const FITS: IJobCheck = {
  feasible: true,
  message: '',
  reasons: [],
  warnings: []
};

/** The server: jobs/check answers with what the notebook reads; jobs takes the job. */
function server(): void {
  requestAPI.mockImplementation(async (path: string, init: RequestInit) => {
    if (path === 'jobs/check') {
      return { ...FITS, detected_inputs: detected() };
    }
    if (path === 'jobs') {
      const body = JSON.parse(String(init.body));
      return makeJob('7', { notebook: body.notebook, inputs: body.inputs });
    }
    throw new Error(`unexpected ${path}`);
  });
}

function bodies(path: string): IJobRequest[] {
  return requestAPI.mock.calls
    .filter(c => c[0] === path)
    .map(c => JSON.parse(c[1].body));
}

async function opened(defaults: ISubmitDefaults = {}): Promise<IOpenedDialog> {
  const form = new SubmitForm('ana/read.ipynb', BACKENDS, [], defaults);
  const opened = await openDialog(form, { gpu: null, files: workspace() });
  opens.push(opened.dialog, opened.model);
  return opened;
}

describe('Files sent with the job', () => {
  checkDelay(20);
  afterEach(() => requestAPI.mockReset());

  it('is pre-filled with what the check found; in-place and refused ones apart', async () => {
    server();
    const { dialog, model, node } = await opened();
    await sleep(150);
    // Then the detected files as the notebook reads them, with sizes and the cell naming them
    expect(rows(node)).toEqual([
      ['data/', '12.5 KB · 3 files', 'cell 1'],
      ['cfg.yaml', '300 bytes', 'cell 2'],
      [
        'escape/',
        'cell 4',
        "not sent: 'ana/escape/x' is a link out of the server root"
      ]
    ]);
    expect(total(node)).toBe('Total: 12.8 KB in 4 files');
    expect(section(node).textContent).toContain(
      'As the notebook reads them, from its folder ana/'
    );
    const data = section(node).querySelector('[aria-label="ana/data/"]');
    expect(data?.querySelector('[title]')?.getAttribute('title')).toBe(
      'ana/data/: the job reads it as data/'
    );
    const inPlace = section(node).querySelector('[aria-label="Read in place"]');
    expect(inPlace?.textContent).toBe('/eos/user/j/jdoe/run1.root cell 3');
    expect(section(node).textContent).toContain(
      'Read in place (shared filesystem), not sent:'
    );
    // and the fit is checked again with them as inputs (the server checks their limits)
    expect(bodies('jobs/check').map(b => b.inputs)).toEqual([
      undefined,
      ['ana/data', 'ana/cfg.yaml']
    ]);
    dialog.dispose();
    model.dispose();
  });

  it('keeps a removed entry removed while other fields change, and submits the list', async () => {
    server();
    const { dialog, model, node, result } = await opened();
    await sleep(150);
    // When the user removes data/
    await click(node, 'Remove ana/data/');
    expect(rows(node)[0]).toEqual(['data/', 'not sent', 'cell 1']);
    expect(total(node)).toBe('Total: 300 bytes in 1 file');
    // and edits the job's name (checked again: the answer proposes data/ again)
    await enter(
      node.querySelector('#swan-name') as HTMLInputElement,
      'read events'
    );
    await sleep(150);
    // Then data/ stays removed
    const checked = bodies('jobs/check');
    expect(checked[checked.length - 1]).toMatchObject({
      name: 'read events',
      inputs: ['ana/cfg.yaml']
    });
    expect(rows(node)[0][1]).toBe('not sent');
    // When it is added back and the job submitted
    await click(node, 'Add back ana/data/');
    dialog.resolve(1);
    await result;
    // Then the job's inputs are the list
    expect(bodies('jobs')).toEqual([
      expect.objectContaining({
        notebook: 'ana/read.ipynb',
        name: 'read events',
        inputs: ['ana/data', 'ana/cfg.yaml']
      })
    ]);
    expect(dialog.job?.inputs).toEqual(['ana/data', 'ana/cfg.yaml']);
    model.dispose();
  });

  it('adds a typed path (Enter adds, it does not submit) and the file browser’s selection', async () => {
    server();
    const { form, dialog, model, node } = await opened();
    form.inputs.selection = () => ['ana/read.ipynb', 'ana/model.h5'];
    await sleep(150);
    await click(node, 'Add…');
    const path = node.querySelector(
      '[aria-label="Path to add"]'
    ) as HTMLInputElement;
    expect(document.activeElement).toBe(path);
    // the notebook folder's files are offered
    await sleep(20);
    const offered = Array.from(
      node.querySelectorAll('#swan-inputs-offered option')
    ).map(o => (o as HTMLOptionElement).value);
    expect(offered).toEqual(
      expect.arrayContaining(['ana/data/', 'ana/cfg.yaml', 'ana/model.h5'])
    );
    expect(offered).not.toContain('ana/read.ipynb');
    // a path that is not there: said, nothing added
    await enter(path, 'common/nope.csv');
    path.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })
    );
    await sleep(30);
    expect(
      Array.from(node.querySelectorAll('[role="alert"]')).map(
        a => a.textContent
      )
    ).toEqual(["no file or folder 'common/nope.csv' under the server root"]);
    expect(dialog.isAttached).toBe(true);
    // one that is: added, and the dialog stays open
    await enter(path, 'common/lumi.csv');
    path.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })
    );
    await sleep(30);
    expect(dialog.isAttached).toBe(true);
    expect(bodies('jobs')).toEqual([]);
    expect(path.value).toBe('');
    expect(rows(node)[3]).toEqual([
      'common/lumi.csv → lumi.csv',
      '4 KB',
      'added'
    ]);
    // the file browser's selection (not the notebook)
    await click(node, "Add the file browser's selection (ana/model.h5)");
    expect(rows(node).map(r => r[0])).toContain('model.h5');
    await sleep(150);
    const checked = bodies('jobs/check');
    expect(checked[checked.length - 1].inputs).toEqual([
      'ana/data',
      'ana/cfg.yaml',
      'common/lumi.csv',
      'ana/model.h5'
    ]);
    expect(total(node)).toBe('Total: 3 MB in 6 files');
    dialog.dispose();
    model.dispose();
  });

  it('offers what a failed job lacked, pre-added with a note (Resubmit)', async () => {
    server();
    const failed = makeJob('3', {
      state: 'failed',
      notebook: 'ana/read.ipynb',
      inputs: ['ana/cfg.yaml'],
      message:
        "cell 2: 'data/events.csv' exists in your workspace but was not sent with the job",
      outputs: { suggested_inputs: ['ana/data/events.csv'] }
    });
    // what the Resubmit command hands the dialog
    const { dialog, model, node, result } = await opened({
      inputs: failed.inputs,
      suggestedInputs: failed.outputs.suggested_inputs
    });
    // said at the top of the dialog, with a way to the list
    const note = node.querySelector('[aria-label="Inputs added"]')!;
    expect(note.querySelector('p')?.textContent).toBe(
      'added: data/events.csv — the job failed because it was missing'
    );
    expect(note.compareDocumentPosition(section(node))).toBe(
      Node.DOCUMENT_POSITION_FOLLOWING
    );
    const scrolled = jest.fn();
    section(node).scrollIntoView = scrolled;
    await click(node, 'Show the files sent');
    expect(scrolled).toHaveBeenCalled();
    await sleep(150);
    // the detected folder holds the file: sent with it
    expect(rows(node)).toContainEqual([
      'data/events.csv',
      'sent with data/',
      'it was missing'
    ]);
    dialog.resolve(1);
    await result;
    expect(bodies('jobs')[0].inputs).toEqual(['ana/data', 'ana/cfg.yaml']);
    model.dispose();
  });

  it('sends nothing to a backend that sends no files, and says so', async () => {
    server();
    const { form, node } = await opened();
    await sleep(150);
    // a backend that publishes capabilities.inputs = false
    form.backends.backends[1].capabilities.inputs = false;
    try {
      form.setBackend('spark');
      await sleep(150);
      expect(section(node).querySelector('[role="note"]')?.textContent).toBe(
        'Spark sends no input files: only the notebook travels. Read data from a shared' +
          ' filesystem, or choose a backend that sends files.'
      );
      const checked = bodies('jobs/check');
      expect(checked[checked.length - 1]).toMatchObject({ backend: 'spark' });
      expect(checked[checked.length - 1].inputs).toBeUndefined();
      expect(total(node)).toBe('Total: nothing but the notebook');
      // the list is kept for a backend that sends files
      form.setBackend('condor');
      expect(form.check()?.inputs).toEqual(['ana/data', 'ana/cfg.yaml']);
    } finally {
      delete form.backends.backends[1].capabilities.inputs;
    }
  });

  it('takes what the preview found when there is no check', async () => {
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'jobs/preview') {
        return {
          backend: 'condor',
          format: 'text',
          text: 'x',
          inputs: [],
          existing_job: null,
          detected_inputs: detected().slice(0, 1)
        };
      }
      throw new Error(`unexpected ${path}`);
    });
    const form = new SubmitForm('ana/read.ipynb', BACKENDS, [], {});
    const { dialog, model, node } = await openDialog(form, {
      check: null,
      gpu: null,
      files: null
    });
    // before any answer: only the notebook
    expect(section(node).textContent).toContain('Only the notebook is sent.');
    expect(total(node)).toBe('Total: nothing but the notebook');
    await form.togglePreview();
    await rendered(form);
    expect(rows(node)).toEqual([['data/', '12.5 KB · 3 files', 'cell 1']]);
    expect(form.check()?.inputs).toEqual(['ana/data']);
    dialog.dispose();
    model.dispose();
  });
});

describe('A job’s view', () => {
  it('lists its inputs', async () => {
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'backends') {
        return BACKENDS;
      }
      if (path.startsWith('jobs?')) {
        return {
          jobs: [
            makeJob('1', { inputs: ['ana/data', 'common/lumi.csv'] }),
            makeJob('2', { inputs: [] })
          ],
          total: 2,
          next_page_token: null
        };
      }
      return { stdout: '', stderr: '', live: true };
    });
    const model = new JobsModel();
    await model.loadBackends();
    await model.refresh();
    const monitor = monitorOf(model);
    const inputsOf = async (id: string) => {
      monitor.select(id);
      const node = await rendered(monitor);
      const dt = Array.from(node.querySelectorAll('dt')).find(
        d => d.textContent === 'Inputs'
      );
      return dt?.nextElementSibling?.textContent;
    };
    expect(await inputsOf('1')).toBe('ana/data, common/lumi.csv');
    expect(await inputsOf('2')).toBe('none (only the notebook)');
    monitor.dispose();
    model.dispose();
  });
});
