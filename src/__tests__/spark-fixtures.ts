import type { ISparkJob, ISparkSession } from '../spark/api';

/**
 * The stand-in for `requestAPI`: only the request layer is replaced, the rest runs for real.
 * jest.mock is hoisted per file, so each spec keeps one line that wires it:
 * `jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());`
 */
export const requestAPI = jest.fn();

/** `../api` with `requestAPI` replaced by the stand-in above. */
export function mockedApi(): Record<string, unknown> {
  return {
    ...jest.requireActual('../api'),
    requestAPI: (...args: any[]) => requestAPI(...args)
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise(r => setTimeout(r, ms));

/** A session as `GET spark/sessions` returns it. */
export function makeSession(
  id: string,
  over: Partial<ISparkSession> = {}
): ISparkSession {
  return {
    id,
    kind: 'classic',
    source: 'kernel',
    kernel_id: `kernel-${id}`,
    job_id: null,
    profile: 'local',
    app_id: `local-1764540000${id}`,
    app_name: 'swan',
    master: 'local[2]',
    state: 'active',
    registered_at: `2026-11-30T22:0${id.length % 10}:00.000Z`,
    ui_path: `swan-ml-ext/spark/ui/${id}/jobs/`,
    summary: {
      jobs_running: 0,
      jobs_total: 0,
      tasks_total: 0,
      tasks_done: 0,
      tasks_active: 0
    },
    ...over
  };
}

/** A Spark job as `GET spark/sessions/{id}/jobs` returns it. */
export function makeSparkJob(
  jobId: number,
  over: Partial<ISparkJob> = {}
): ISparkJob {
  return {
    job_id: jobId,
    name: `count at <cell>:${jobId}`,
    description: 'df.count()',
    status: 'SUCCEEDED',
    cell_id: 'cell-a',
    num_tasks: 4,
    num_completed_tasks: 4,
    num_active_tasks: 0,
    num_failed_tasks: 0,
    num_killed_tasks: 0,
    stage_ids: [jobId],
    submission_time: '2026-11-30T22:00:00.000GMT',
    completion_time: null,
    ...over
  };
}

/** A running session `s1`: cell-a ran jobs 0 and 1 (1 runs), cell-b job 2, job 3 no cell. */
export function runningJobs(): ISparkJob[] {
  return [
    makeSparkJob(0),
    makeSparkJob(1, {
      status: 'RUNNING',
      num_tasks: 10,
      num_completed_tasks: 3,
      num_active_tasks: 2
    }),
    makeSparkJob(2, {
      cell_id: 'cell-b',
      status: 'FAILED',
      num_failed_tasks: 1
    }),
    makeSparkJob(3, { cell_id: null })
  ];
}

/**
 * A fake Spark server behind `requestAPI`: answers the Spark routes from `state`, records
 * every call (path, method, body).
 */
export class FakeSparkServer {
  sessions: ISparkSession[] = [];
  jobs: Record<string, ISparkJob[]> = {};
  calls: { path: string; method: string; body?: any }[] = [];
  /** path -> error thrown for it. */
  failures: Record<string, Error> = {};

  handle = async (path: string, init: RequestInit = {}): Promise<any> => {
    const method = init.method ?? 'GET';
    const body = init.body ? JSON.parse(init.body as string) : undefined;
    this.calls.push({ path, method, body });
    const failure = this.failures[`${method} ${path}`];
    if (failure) {
      throw failure;
    }
    if (path === 'spark/profiles') {
      return {
        profiles: [
          {
            name: 'local',
            kind: 'classic',
            description: 'local[2] in the kernel'
          },
          { name: 'connect', kind: 'connect', description: 'Spark Connect' }
        ],
        default: 'local'
      };
    }
    if (path === 'spark/sessions' && method === 'GET') {
      return { sessions: this.sessions };
    }
    if (path === 'spark/sessions' && method === 'POST') {
      return makeSession('new', { kernel_id: body.kernel_id });
    }
    const m = /^spark\/sessions\/([^/]+)(?:\/(\w+))?/.exec(path);
    if (m) {
      const [, id, part] = m;
      if (!part) {
        return method === 'DELETE' ? '' : this.sessions.find(s => s.id === id);
      }
      if (part === 'jobs' && method === 'GET') {
        return { jobs: this.jobs[id] ?? [], cells: [], updated_at: 'now' };
      }
      if (part === 'jobs') {
        return { killed: Number(path.split('/')[4]) };
      }
      if (part === 'stages') {
        return {
          stages: [
            {
              stage_id: 1,
              attempt_id: 0,
              name: 'count at <cell>:1',
              status: 'ACTIVE',
              num_tasks: 10,
              num_complete_tasks: 3,
              num_active_tasks: 2,
              num_failed_tasks: 0
            }
          ]
        };
      }
      if (part === 'executors') {
        return {
          executors: [
            {
              id: 'driver',
              host_port: '127.0.0.1:40000',
              is_active: true,
              total_cores: 2,
              max_memory: 512 * 1024 * 1024,
              active_tasks: 2,
              completed_tasks: 7,
              resources: { gpu: ['0', '1'] }
            }
          ]
        };
      }
    }
    throw new Error(`unexpected ${method} ${path}`);
  };

  paths(method = 'GET'): string[] {
    return this.calls.filter(c => c.method === method).map(c => c.path);
  }
}

/** Wait until the condition holds (at most `ms`): a loaded machine delays timers and renders. */
export async function until(
  condition: () => boolean,
  ms = 3000
): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) {
    await sleep(10);
  }
  expect(condition()).toBe(true);
}
