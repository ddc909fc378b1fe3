import { makeJob as job } from './fixtures';
import { filterJobs, formatDuration, jobDuration, JobsModel } from '../model';

// Only the request layer is replaced: the model's logic runs for real.
const requestAPI = jest.fn();
jest.mock('../api', () => ({
  ...jest.requireActual('../api'),
  requestAPI: (...args: any[]) => requestAPI(...args)
}));

describe('filterJobs', () => {
  const jobs = [
    job('1', { state: 'failed', message: 'cell 3 raised KeyError' }),
    job('2', { state: 'completed', backend: 'spark', name: 'Higgs fit' }),
    job('3', { state: 'running' })
  ];
  it('filters by state, backend and text (name, notebook, id, message)', () => {
    const none = { state: '' as const, backend: '', text: '' };
    expect(filterJobs(jobs, none)).toHaveLength(3);
    expect(
      filterJobs(jobs, { ...none, state: 'failed' }).map(j => j.id)
    ).toEqual(['1']);
    expect(
      filterJobs(jobs, { ...none, backend: 'spark' }).map(j => j.id)
    ).toEqual(['2']);
    expect(filterJobs(jobs, { ...none, text: 'higgs' }).map(j => j.id)).toEqual(
      ['2']
    );
    expect(
      filterJobs(jobs, { ...none, text: 'keyerror' }).map(j => j.id)
    ).toEqual(['1']);
    expect(filterJobs(jobs, { ...none, text: 'nb/3' }).map(j => j.id)).toEqual([
      '3'
    ]);
    expect(filterJobs(jobs, { ...none, state: 'held' })).toEqual([]);
  });

  it('finds the matches among 10,000 jobs in their order, the list left as it was', () => {
    const many = Array.from({ length: 10000 }, (_, i) => job(String(i)));
    const hits = filterJobs(many, { state: '', backend: '', text: 'job 999' });
    expect(hits.map(j => j.id)).toEqual(
      [
        '999',
        '9990',
        '9991',
        '9992',
        '9993',
        '9994',
        '9995',
        '9996',
        '9997',
        '9998',
        '9999'
      ] // in the order given
    );
    expect(many).toHaveLength(10000);
    expect(many[999].id).toBe('999');
  });
});

describe('durations', () => {
  it('formats seconds, minutes and hours', () => {
    expect(formatDuration(12)).toBe('12 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(-5)).toBe('0 s');
  });

  it('measures from start to finish, or to now while running', () => {
    const j = job('1', {
      started_at: '2026-11-28T10:00:00.000Z',
      finished_at: '2026-11-28T10:01:30.000Z'
    });
    expect(jobDuration(j)).toBe('1 min 30 s');
    const r = job('2', { started_at: '2026-11-28T10:00:00.000Z' });
    expect(jobDuration(r, Date.parse('2026-11-28T10:00:10.000Z'))).toBe('10 s');
  });
});

describe('JobsModel', () => {
  beforeEach(() => requestAPI.mockReset());

  it('loads every page once, then only active and new jobs', async () => {
    // Given a server with two pages of jobs
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'jobs?limit=500') {
        return { jobs: [job('3'), job('2')], total: 3, next_page_token: '2' };
      }
      if (path === 'jobs?limit=500&page_token=2') {
        return {
          jobs: [job('1', { state: 'completed' })],
          total: 3,
          next_page_token: null
        };
      }
      throw new Error(`unexpected ${path}`);
    });
    const model = new JobsModel({ interval: 100000 });
    const changed = jest.fn();
    model.changed.connect(changed);
    // When it refreshes the first time
    await model.refresh();
    // Then all jobs are there, newest first
    expect(model.jobs.map(j => j.id)).toEqual(['3', '2', '1']);
    expect(changed).toHaveBeenCalled();

    // Given job 2 finished and job 4 is new
    const transitions: string[] = [];
    model.jobChanged.connect((_, c) =>
      transitions.push(`${c.job.id}:${c.previous}->${c.job.state}`)
    );
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'jobs?limit=500&state=pending,running,held') {
        return {
          jobs: [job('3'), job('4', { state: 'pending' })],
          total: 2,
          next_page_token: null
        };
      }
      if (path === 'jobs?limit=50') {
        return {
          jobs: [job('4', { state: 'pending' }), job('3')],
          total: 4,
          next_page_token: null
        };
      }
      if (path === 'jobs/2') {
        return job('2', {
          state: 'completed',
          outputs: { notebook: 'out/2.ipynb' }
        });
      }
      throw new Error(`unexpected ${path}`);
    });
    requestAPI.mockClear();
    // When it refreshes again
    await model.refresh();
    // Then only active/new jobs and the one that left were fetched
    const paths = requestAPI.mock.calls.map(c => c[0]);
    expect(paths).not.toContain('jobs?limit=500');
    expect(model.jobs.map(j => j.id)).toEqual(['4', '3', '2', '1']);
    expect(model.job('2')!.outputs.notebook).toBe('out/2.ipynb');
    expect(transitions.sort()).toEqual([
      '2:running->completed',
      '4:null->pending'
    ]);
    model.dispose();
  });

  it('reports a missing server extension', async () => {
    requestAPI.mockRejectedValue(new Error('Not Found'));
    const model = new JobsModel();
    await expect(model.refresh()).rejects.toThrow('Not Found');
    expect(model.serverError).toBe('Not Found');
    model.dispose();
  });

  it('applies an event from the bus by fetching that job', async () => {
    requestAPI.mockResolvedValueOnce({
      jobs: [job('1')],
      total: 1,
      next_page_token: null
    });
    const model = new JobsModel();
    await model.refresh();
    requestAPI.mockResolvedValueOnce(
      job('1', { state: 'failed', message: 'cell 2 raised' })
    );
    const seen: string[] = [];
    model.jobChanged.connect((_, c) => seen.push(c.job.state));
    await model.onEvent({ id: '1' });
    expect(model.job('1')!.state).toBe('failed');
    expect(seen).toEqual(['failed']);
    model.dispose();
  });
});
