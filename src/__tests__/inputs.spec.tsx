import { Contents } from '@jupyterlab/services';

import {
  arrivesAs,
  contentsFiles,
  humanBytes,
  InputsModel,
  normalizePath
} from '../submit/inputs';
import { describeSize, formatInputs } from '../submit/inputsList';
import { detected, workspace } from './inputs-fixtures';

const tick = () => new Promise(r => setTimeout(r, 0));

describe('inputs helpers', () => {
  it('writes sizes as the server does', () => {
    expect(humanBytes(300)).toBe('300 bytes');
    expect(humanBytes(12800)).toBe('12.5 KB');
    expect(humanBytes(1024 ** 2)).toBe('1 MB');
    expect(humanBytes(1.5 * 1024 ** 3)).toBe('1.5 GB');
    expect(describeSize({ kind: 'folder', bytes: 12800, files: 3 })).toBe(
      '12.5 KB · 3 files'
    );
    expect(
      describeSize({ kind: 'folder', bytes: 2048, files: 10001, approx: true })
    ).toBe('at least 2 KB · 10,001 files');
    expect(describeSize({ kind: 'file', bytes: 300, files: 1 })).toBe(
      '300 bytes'
    );
    expect(describeSize({ kind: 'file' })).toBe('');
  });

  it('reads typed paths as root-relative', () => {
    expect(normalizePath(' ./ana/data/ ')).toBe('ana/data');
    expect(normalizePath('ana//data/./x.csv')).toBe('ana/data/x.csv');
    expect(normalizePath('ana\\data')).toBe('ana/data');
    expect(normalizePath('')).toBe('');
  });

  it('says where an input arrives: by its path in the notebook folder, else by name', () => {
    expect(arrivesAs('ana/read.ipynb', 'ana/data')).toBe('data');
    expect(arrivesAs('ana/read.ipynb', 'ana/data/events.csv')).toBe(
      'data/events.csv'
    );
    expect(arrivesAs('ana/read.ipynb', 'common/lumi.csv')).toBe('lumi.csv');
    expect(arrivesAs('read.ipynb', 'data/x.csv')).toBe('data/x.csv');
  });

  it('lists a job’s inputs for its view', () => {
    expect(formatInputs({ inputs: ['ana/data', 'ana/cfg.yaml'] })).toBe(
      'ana/data, ana/cfg.yaml'
    );
    expect(formatInputs({ inputs: [] })).toBe('none (only the notebook)');
    expect(formatInputs({})).toBe('none (only the notebook)');
  });

  it('measures folders through the contents API, checkpoints left out', async () => {
    const tree: Record<string, Partial<Contents.IModel>> = {
      'ana/data': {
        type: 'directory',
        path: 'ana/data',
        content: [
          {
            type: 'file',
            name: 'events.csv',
            path: 'ana/data/events.csv',
            size: 100
          },
          { type: 'directory', name: 'sub', path: 'ana/data/sub' },
          {
            type: 'directory',
            name: '.ipynb_checkpoints',
            path: 'ana/data/.ipynb_checkpoints'
          }
        ]
      },
      'ana/data/sub': {
        type: 'directory',
        path: 'ana/data/sub',
        content: [
          {
            type: 'notebook',
            name: 'n.ipynb',
            path: 'ana/data/sub/n.ipynb',
            size: 50
          }
        ]
      },
      'ana/cfg.yaml': { type: 'file', path: 'ana/cfg.yaml', size: 7 }
    };
    const get = jest.fn(async (path: string) => {
      if (!(path in tree)) {
        throw new Error('404');
      }
      return tree[path];
    });
    const files = contentsFiles({ get } as unknown as Contents.IManager);
    expect(await files.measure('ana/data')).toEqual({
      kind: 'folder',
      bytes: 150,
      files: 2
    });
    expect(get.mock.calls.map(c => c[0])).not.toContain(
      'ana/data/.ipynb_checkpoints'
    );
    expect(await files.measure('ana/cfg.yaml')).toEqual({
      kind: 'file',
      bytes: 7,
      files: 1
    });
    await expect(files.measure('nope')).rejects.toThrow('404');
    expect(await files.list('ana/data')).toEqual([
      'ana/data/events.csv',
      'ana/data/sub/'
    ]);
  });
});

describe('InputsModel', () => {
  it('sends what was detected, apart from what is read in place or would be refused', () => {
    const model = new InputsModel('ana/read.ipynb');
    const changes: boolean[] = [];
    model.changed.connect((_, c) => changes.push(c.sent));
    expect(model.request()).toBeUndefined();
    expect(model.detectedKnown).toBe(false);
    // When the check's answer says what the code reads
    model.setDetected(detected());
    // Then the workspace files are sent; the shared filesystem's is read in place
    expect(model.paths()).toEqual(['ana/data', 'ana/cfg.yaml']);
    expect(model.inPlace.map(d => d.path)).toEqual([
      '/eos/user/j/jdoe/run1.root'
    ]);
    expect(model.rows.map(r => [r.path, r.problem ?? ''])).toEqual([
      ['ana/data', ''],
      ['ana/cfg.yaml', ''],
      ['ana/escape', "'ana/escape/x' is a link out of the server root"]
    ]);
    expect(model.total()).toEqual({ bytes: 13100, files: 4, approx: false });
    expect(changes).toEqual([true]);
    // and the same answer again changes nothing sent
    model.setDetected(detected());
    model.setDetected(undefined); // an answer without detection (an older server)
    expect(changes).toEqual([true, false]);
  });

  it('keeps a removed entry removed as answers keep coming, until added back', () => {
    const model = new InputsModel('ana/read.ipynb');
    model.setDetected(detected());
    model.remove('ana/data');
    expect(model.paths()).toEqual(['ana/cfg.yaml']);
    expect(model.rows[0]).toMatchObject({ path: 'ana/data', removed: true });
    // a later answer (the user edited another field) proposes it again
    model.setDetected(detected());
    // one that leaves it out (it names what the request sends already) does not drop rows
    model.setDetected(detected().slice(1));
    expect(model.paths()).toEqual(['ana/cfg.yaml']);
    expect(model.rows.map(r => r.path)).toEqual([
      'ana/data',
      'ana/cfg.yaml',
      'ana/escape'
    ]);
    model.restore('ana/data');
    expect(model.paths()).toEqual(['ana/data', 'ana/cfg.yaml']);
  });

  it('adds typed paths after finding them in the workspace', async () => {
    const files = workspace();
    const model = new InputsModel('ana/read.ipynb', files);
    model.setDetected(detected());
    // a file elsewhere, root-relative
    expect(await model.addTyped('common/lumi.csv')).toBe('');
    // relative to the notebook's folder works too
    expect(await model.addTyped('model.h5')).toBe('');
    expect(model.paths()).toEqual([
      'ana/data',
      'ana/cfg.yaml',
      'common/lumi.csv',
      'ana/model.h5'
    ]);
    expect(model.total()).toEqual({
      bytes: 13100 + 4096 + 3 * 1024 ** 2,
      files: 6,
      approx: false
    });
    // what cannot be added says why, and adds nothing
    expect(await model.addTyped('nothing/here')).toBe(
      "no file or folder 'nothing/here' under the server root"
    );
    expect(await model.addTyped('/eos/user/x')).toMatch(/read in place/);
    expect(await model.addTyped('../etc/passwd')).toMatch(
      /inside the server root/
    );
    expect(await model.addTyped('ana/read.ipynb')).toBe(
      'the notebook itself always travels'
    );
    expect(await model.addTyped('ana/data/events.csv')).toBe(
      "'ana/data/events.csv' is sent with 'ana/data/' already"
    );
    expect(await model.addTyped('ana/cfg.yaml')).toBe(
      "'ana/cfg.yaml' is in the list already"
    );
    expect(model.paths()).toHaveLength(4);
    // typing a removed detected entry adds it back
    model.remove('ana/data');
    expect(await model.addTyped('ana/data/')).toBe('');
    expect(model.paths()[0]).toBe('ana/data');
    // an added entry is dropped by Remove
    model.remove('common/lumi.csv');
    expect(model.paths()).not.toContain('common/lumi.csv');
  });

  it('adds the file browser’s selection, not the notebook itself', async () => {
    const model = new InputsModel('ana/read.ipynb', workspace());
    model.selection = () => [
      'ana/read.ipynb',
      'ana/cfg.yaml',
      'common/lumi.csv'
    ];
    expect(await model.addSelection()).toEqual([
      'ana/cfg.yaml',
      'common/lumi.csv'
    ]);
    expect(model.rows.map(r => [r.path, r.source, r.bytes])).toEqual([
      ['ana/cfg.yaml', 'added', 300],
      ['common/lumi.csv', 'added', 4096]
    ]);
  });

  it('takes a resubmitted job’s inputs and what it lacked, with a note', async () => {
    const model = new InputsModel('ana/read.ipynb');
    model.preset(['common/lumi.csv'], ['ana/data/events.csv']);
    expect(model.notes).toEqual([
      'added: data/events.csv — the job failed because it was missing'
    ]);
    expect(model.paths()).toEqual(['common/lumi.csv', 'ana/data/events.csv']);
    // sizes are looked up once the workspace can be read
    const files = workspace();
    model.files = files;
    await tick();
    expect(files.measured.sort()).toEqual([
      'ana/data/events.csv',
      'common/lumi.csv'
    ]);
    expect(model.rows.map(r => [r.source, r.bytes, r.pending])).toEqual([
      ['job', 4096, false],
      ['suggested', 10000, false]
    ]);
    // the detected folder holds the missing file: the folder is sent, the file with it
    model.setDetected(detected());
    expect(model.paths()).toEqual([
      'ana/data',
      'ana/cfg.yaml',
      'common/lumi.csv'
    ]);
    expect(
      model.rows.find(r => r.path === 'ana/data/events.csv')?.coveredBy
    ).toBe('ana/data');
  });

  it('marks a preset path that is gone, and does not send it', async () => {
    const model = new InputsModel('ana/read.ipynb', workspace());
    model.preset(['gone/data.csv']);
    await tick();
    expect(model.rows[0]).toMatchObject({
      path: 'gone/data.csv',
      problem: 'not in the workspace now'
    });
    expect(model.request()).toBeUndefined();
  });
});
