import {
  FakeSparkServer,
  makeSession,
  makeSparkJob,
  requestAPI,
  runningJobs,
  sleep,
  until
} from './spark-fixtures';
import { parseConfLines } from '../spark/api';
import { SparkModel } from '../spark/model';
import { formatBytes, groupByCell } from '../spark/progress';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const RUNNING = {
  jobs_running: 1,
  jobs_total: 2,
  tasks_total: 14,
  tasks_done: 7,
  tasks_active: 2
};

let server: FakeSparkServer;
beforeEach(() => {
  server = new FakeSparkServer();
  requestAPI.mockReset();
  requestAPI.mockImplementation(server.handle);
});

describe('groupByCell', () => {
  it('groups jobs by their cell, the cell with the newest job first', () => {
    // Given jobs of two cells and one started outside a cell
    const groups = groupByCell({ jobs: runningJobs(), cells: [] });
    // Then each cell has its jobs, newest first, with their task sums
    expect(groups.map(g => [g.cellId, g.jobs.map(j => j.job_id)])).toEqual([
      [null, [3]],
      ['cell-b', [2]],
      ['cell-a', [1, 0]]
    ]);
    const a = groups[2];
    expect(a.running).toBe(1);
    expect(a.progress).toEqual({
      total: 14,
      done: 7,
      active: 2,
      failed: 0,
      killed: 0,
      skipped: 0
    });
    expect(groups[1].failed).toBe(1);
  });

  it('leaves the tasks of skipped stages out of a finished job, and ended tasks out of active', () => {
    // Given a succeeded job whose first stage was skipped, and a killed job Spark still reports
    const [done, killed] = groupByCell({
      jobs: [
        makeSparkJob(4, { num_tasks: 3, num_completed_tasks: 1 }),
        makeSparkJob(5, {
          cell_id: 'cell-k',
          status: 'FAILED',
          num_tasks: 24,
          num_completed_tasks: 4,
          num_active_tasks: 2,
          num_killed_tasks: 2
        })
      ]
    }).sort((x, y) => (x.cellId! < y.cellId! ? -1 : 1));
    // Then the succeeded job is complete, as the Spark UI shows it: 1/1 (2 skipped)
    expect(done.progress).toMatchObject({ total: 1, done: 1, skipped: 2 });
    // and the killed one has no active task left
    expect(killed.progress).toMatchObject({
      total: 24,
      done: 4,
      active: 0,
      killed: 2,
      skipped: 0
    });
  });

  it('takes the server’s cell grouping where a job has no cell id', () => {
    const groups = groupByCell({
      jobs: [makeSparkJob(5, { cell_id: null })],
      cells: [{ cell_id: 'cell-z', job_ids: [5] }]
    });
    expect(groups.map(g => g.cellId)).toEqual(['cell-z']);
  });
});

describe('helpers', () => {
  it('parses extra conf lines and names a bad line', () => {
    expect(
      parseConfLines('spark.executor.memory = 1g\n\n# comment\nspark.a=b=c\n')
    ).toEqual({ 'spark.executor.memory': '1g', 'spark.a': 'b=c' });
    expect(() => parseConfLines('spark.x=1\nnonsense')).toThrow(
      'line 2: expected key=value, got "nonsense"'
    );
  });

  it('formats bytes', () => {
    expect(formatBytes(512 * 1024 * 1024)).toBe('512 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatBytes(0)).toBe('0 B');
  });
});

describe('SparkModel', () => {
  it('loads details only for the sessions a view watches', async () => {
    // Given two sessions
    server.sessions = [makeSession('s1'), makeSession('s2')];
    server.jobs = { s1: runningJobs(), s2: [makeSparkJob(9)] };
    const model = new SparkModel({ slowInterval: 100000 });
    await model.refresh();
    expect(server.paths()).toEqual(['spark/sessions']);
    // When a view watches the jobs and executors of s1
    const watch = model.watch('s1', ['jobs', 'executors']);
    await model.refresh();
    // Then only s1's parts are loaded
    expect(server.paths()).toEqual(
      expect.arrayContaining([
        'spark/sessions/s1/jobs',
        'spark/sessions/s1/executors'
      ])
    );
    expect(server.paths().filter(p => p.includes('s2/'))).toEqual([]);
    expect(server.paths()).not.toContain('spark/sessions/s1/stages');
    expect(model.details('s1')!.jobs).toHaveLength(4);
    expect(model.details('s1')!.executors![0].resources.gpu).toEqual([
      '0',
      '1'
    ]);
    // and nothing is reloaded while nothing changed
    server.calls = [];
    await model.refresh();
    expect(server.paths()).toEqual(['spark/sessions']);
    // and once nobody watches, a changed session is not loaded
    watch.dispose();
    server.sessions = [makeSession('s1', { summary: RUNNING })];
    server.calls = [];
    await model.refresh();
    expect(server.paths()).toEqual(['spark/sessions']);
    model.dispose();
  });

  it('reloads a watched session on its event', async () => {
    server.sessions = [makeSession('s1')];
    const model = new SparkModel({ slowInterval: 100000 });
    await model.refresh();
    model.watch('s1', ['jobs']);
    await sleep(10);
    expect(model.details('s1')!.jobs).toEqual([]);
    // Given a job started in s1
    server.sessions = [makeSession('s1', { summary: RUNNING })];
    server.jobs = { s1: runningJobs() };
    server.calls = [];
    const changed = jest.fn();
    model.changed.connect(changed);
    // When the server says so on the event bus
    await model.onEvent({ session_id: 's1', change: 'jobs', jobs_running: 1 });
    // Then that session and its jobs are loaded (not the whole list)
    expect(server.paths()).toEqual([
      'spark/sessions/s1',
      'spark/sessions/s1/jobs'
    ]);
    expect(model.session('s1')!.summary.jobs_running).toBe(1);
    expect(model.details('s1')!.jobs).toHaveLength(4);
    expect(changed).toHaveBeenCalled();
    // and a session it does not know yet reloads the list
    server.calls = [];
    server.sessions.push(makeSession('s2'));
    await model.onEvent({
      session_id: 's2',
      change: 'registered',
      jobs_running: 0
    });
    expect(server.paths()).toEqual(['spark/sessions']);
    expect(model.sessions.map(s => s.id)).toEqual(['s1', 's2']);
    model.dispose();
  });

  it('polls fast while a job runs and slowly while idle', async () => {
    // Given an idle session and a model polling every 30 ms when busy, 10 s when idle
    server.sessions = [makeSession('s1')];
    const model = new SparkModel({ fastInterval: 30, slowInterval: 10000 });
    await model.start();
    await sleep(20);
    expect(model.interval).toBe(10000);
    server.calls = [];
    await sleep(200);
    // Then an idle session is not asked for again
    expect(server.paths()).toEqual([]);
    // When a job starts (the event says so)
    server.sessions = [makeSession('s1', { summary: RUNNING })];
    await model.onEvent({ session_id: 's1', change: 'jobs', jobs_running: 1 });
    expect(model.interval).toBe(30);
    server.calls = [];
    // Then the sessions are polled several times a second
    const polls = () =>
      server.paths().filter(p => p === 'spark/sessions').length;
    await until(() => polls() >= 4);
    // When the job ends: back to idle
    server.sessions = [makeSession('s1')];
    await until(() => model.interval === 10000);
    server.calls = [];
    await sleep(200);
    expect(server.paths().length).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it('ignores events while the page is hidden and catches up once shown', async () => {
    server.sessions = [makeSession('s1')];
    const model = new SparkModel({ slowInterval: 100000 });
    await model.start();
    await sleep(20);
    const visibility = jest.spyOn(document, 'visibilityState', 'get');
    try {
      // Given a hidden page
      visibility.mockReturnValue('hidden');
      server.calls = [];
      // When an event comes, nothing is fetched
      await model.onEvent({
        session_id: 's1',
        change: 'jobs',
        jobs_running: 1
      });
      expect(server.paths()).toEqual([]);
      // When the page is shown again, the sessions are reloaded at once
      visibility.mockReturnValue('visible');
      document.dispatchEvent(new Event('visibilitychange'));
      await until(() => server.paths().includes('spark/sessions'));
    } finally {
      visibility.mockRestore();
      model.dispose();
    }
  });

  it('backs off and reports while the server does not answer', async () => {
    requestAPI.mockRejectedValue(new Error('Not Found'));
    const model = new SparkModel();
    await expect(model.refresh()).rejects.toThrow('Not Found');
    expect(model.serverError).toBe('Not Found');
    model.dispose();
  });

  it('connects, stops and kills through the API', async () => {
    server.sessions = [makeSession('s1', { summary: RUNNING })];
    const model = new SparkModel({ slowInterval: 100000 });
    const session = await model.connect('k-1', 'local', {
      'spark.executor.memory': '1g'
    });
    expect(session!.id).toBe('new');
    await model.attach('k-2');
    await model.kill('s1', 1);
    await model.stop('s1');
    expect(server.calls.filter(c => c.method !== 'GET')).toEqual([
      {
        path: 'spark/sessions',
        method: 'POST',
        body: {
          kernel_id: 'k-1',
          profile: 'local',
          conf: { 'spark.executor.memory': '1g' }
        }
      },
      { path: 'spark/sessions', method: 'POST', body: { kernel_id: 'k-2' } },
      { path: 'spark/sessions/s1/jobs/1/kill', method: 'POST' },
      { path: 'spark/sessions/s1', method: 'DELETE' }
    ]);
    model.dispose();
  });
});
