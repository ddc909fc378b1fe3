import { JobsModel } from '../model';
import { FitChecker } from '../submit/check';
import {
  describeGpuType,
  fieldChoices,
  kernelPeak,
  suggestedMb
} from '../submit/gpuFit';
import { makeGpuBackends, makeJob } from './fixtures';
import { FITS, GiB, gpuStatus, refusal, REQUEST } from './gpu-fit-fixtures';
import { requestAPI, sleep } from './spark-fixtures';
import { rendered } from './testutils';
import { monitorOf } from './widget-fixtures';
import { IJobCheck } from '../api';

// Only the request layer is replaced: the rest runs for real.
jest.mock('../api', () => jest.requireActual('./spark-fixtures').mockedApi());

const BACKENDS = makeGpuBackends();

describe('FitChecker', () => {
  it('asks once the typing pauses, for the latest values only', async () => {
    const check = jest.fn().mockResolvedValue(FITS);
    const fit = new FitChecker(check, 20);
    // When the values change three times in a row
    fit.schedule({ ...REQUEST, name: 'a' });
    fit.schedule({ ...REQUEST, name: 'ab' });
    fit.schedule({ ...REQUEST, name: 'abc' });
    // Then nothing is asked yet, and an answer is on its way
    expect(check).not.toHaveBeenCalled();
    expect(fit.state.busy).toBe(true);
    await sleep(150);
    // and once they pause, one question for the last values
    expect(check).toHaveBeenCalledTimes(1);
    expect(check.mock.calls[0][0].name).toBe('abc');
    expect(fit.state).toEqual({ answer: FITS, refused: '', busy: false });
    expect(fit.infeasible).toBe(false);
    fit.dispose();
  });

  it('drops an answer to older values that comes late', async () => {
    const answers: ((a: IJobCheck) => void)[] = [];
    const fit = new FitChecker(
      () => new Promise<IJobCheck>(resolve => answers.push(resolve)),
      0
    );
    fit.schedule({ ...REQUEST, resources: { gpus: 4 } });
    await sleep(10);
    fit.schedule({ ...REQUEST, resources: { gpus: 1 } });
    await sleep(10);
    expect(answers).toHaveLength(2);
    // When the newer answer comes first, then the older one
    answers[1](FITS);
    await sleep(0);
    answers[0]({ ...FITS, feasible: false, message: 'no machine has 4 GPUs' });
    await sleep(0);
    // Then the newer one stays
    expect(fit.state.answer).toEqual(FITS);
    expect(fit.infeasible).toBe(false);
    fit.dispose();
  });

  it('shows a refusal, and nothing where the server cannot check', async () => {
    const check = jest.fn();
    const fit = new FitChecker(check, 0);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    // A 4xx: the server would refuse the job; its message is shown
    check.mockRejectedValueOnce(refusal(400, "'gpu_model' must match"));
    fit.schedule(REQUEST);
    await sleep(10);
    expect(fit.state).toEqual({
      answer: null,
      refused: "'gpu_model' must match",
      busy: false
    });
    // A server without the route (404) or not reachable: nothing is shown
    for (const reason of [refusal(404, 'Not Found'), new Error('offline')]) {
      check.mockRejectedValueOnce(reason);
      fit.schedule(REQUEST);
      await sleep(10);
      expect(fit.state).toEqual({ answer: null, refused: '', busy: false });
    }
    // Values the form finds invalid: nothing asked, nothing shown
    check.mockResolvedValueOnce(FITS);
    fit.schedule(REQUEST);
    fit.schedule(null);
    await sleep(10);
    expect(check).toHaveBeenCalledTimes(3);
    expect(fit.state).toEqual({ answer: null, refused: '', busy: false });
    warn.mockRestore();
    fit.dispose();
  });
});

describe('GPU fit helpers', () => {
  it('describes each GPU model of the pool', () => {
    const [v100, a100] = BACKENDS.backends[0].resources.gpu_types as any[];
    expect(describeGpuType(v100)).toBe('1 of 1 free · 16 GB · cc 7.0');
    expect(describeGpuType(a100)).toBe('1 of 2 free · 40 GB · cc 8.0');
    expect(
      describeGpuType({ name: 'T4', total: 4, free: 0, memory_mb: 15360 })
    ).toBe('0 of 4 free · 15 GB');
    expect(describeGpuType({ name: 'A100' })).toBe('');
  });

  it('takes a field’s options from what its backend publishes', () => {
    expect(fieldChoices(BACKENDS.backends[0])).toEqual({
      gpu_model: ['Tesla V100-PCIE-16GB', 'A100-SXM4-40GB']
    });
    // a backend that publishes none: the field has no options but "any"
    const bare = { ...BACKENDS.backends[0], resources: {} };
    expect(fieldChoices(bare)).toEqual({ gpu_model: [] });
    expect(fieldChoices(BACKENDS.backends[1])).toEqual({});
  });

  it('suggests the peak plus 10%, rounded up to whole GB', () => {
    expect(suggestedMb(3.2 * GiB)).toBe(4096);
    expect(suggestedMb(1 * GiB)).toBe(2048);
    expect(suggestedMb(0.5 * GiB)).toBe(1024);
    expect(suggestedMb(36 * GiB)).toBe(40960);
  });

  it('finds the notebook kernel’s peak by kernel id, else by path', () => {
    const status = gpuStatus();
    expect(kernelPeak(status, 'a.ipynb', ['k-a'])).toBe(3.2 * GiB);
    expect(kernelPeak(status, 'a.ipynb', ['k-other'])).toBe(30 * GiB);
    expect(kernelPeak(status, 'other.ipynb', [])).toBe(30 * GiB);
    expect(kernelPeak(status, 'idle.ipynb', [])).toBeNull();
    expect(kernelPeak(status, 'new.ipynb', [])).toBeNull();
    expect(
      kernelPeak({ ...status, available: false }, 'a.ipynb', ['k-a'])
    ).toBeNull();
    expect(kernelPeak(null, 'a.ipynb', ['k-a'])).toBeNull();
  });
});

describe('A waiting job’s row', () => {
  afterEach(() => requestAPI.mockReset());

  it('says why a pending or held job waits', async () => {
    const jobs = [
      makeJob('3', {
        state: 'pending',
        message:
          'waiting: no machine has 4 GPUs; the largest has 3 — cancel and resubmit with fewer'
      }),
      makeJob('2', {
        state: 'held',
        message:
          'held: the job exceeded its memory — fix and Release, or Cancel'
      }),
      makeJob('1', { state: 'running', message: 'running on slot1@node' })
    ];
    requestAPI.mockImplementation(async (path: string) => {
      if (path === 'backends') {
        return BACKENDS;
      }
      return { jobs, total: jobs.length, next_page_token: null };
    });
    const model = new JobsModel();
    await model.loadBackends();
    await model.refresh();
    const monitor = monitorOf(model);
    const node = await rendered(monitor);
    const row = (name: string) =>
      node.querySelector(`li[aria-label^="${name} "]`) as HTMLElement;
    const message = (name: string) =>
      row(name).querySelector('.jp-SwanML-row-message');
    expect(message('job 3')?.textContent).toBe(jobs[0].message);
    expect(message('job 3')?.classList).toContain('jp-mod-pending');
    expect(message('job 2')?.textContent).toBe(jobs[1].message);
    expect(message('job 2')?.classList).toContain('jp-mod-held');
    // the whole reason on hover, however narrow the sidebar
    expect(row('job 3').querySelector('button')?.title).toBe(jobs[0].message);
    // a running job shows its progress instead
    expect(message('job 1')).toBeNull();
    monitor.dispose();
    model.dispose();
  });
});
