/**
 * Spark from Lab (issue 10): the Spark panel connects a notebook's kernel with the built-in
 * `local` profile (real pyspark, nothing to set up), follows its jobs per cell in the panel
 * and under the cell, kills a job, shows the Spark UI (Executors page) in a Lab tab, stops.
 * A Spark session takes 5-20 s to start on a loaded machine: generous timeouts, no sleeps.
 */
import { expect, test } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';

const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';
const SPARK = '/swan-ml-ext/spark';
const SLOW = { timeout: 120000 };

/** Small memory and few partitions: the machine is shared. */
const EXTRA_CONF = 'spark.driver.memory=512m\nspark.sql.shuffle.partitions=2';

function notebook(cells: Record<string, string>): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
    },
    cells: Object.entries(cells).map(([id, source]) => ({
      id,
      cell_type: 'code',
      metadata: {},
      source,
      outputs: [],
      execution_count: null
    }))
  });
}

/** The notebook's kernel, once the server says it is idle (Connect answers 409 before). */
async function idleKernel(page: Page, path: string): Promise<string> {
  let kernelId = '';
  await expect
    .poll(
      async () => {
        const sessions = await (await page.request.get('/api/sessions')).json();
        const mine = sessions.find((s: any) => s.path === path);
        kernelId = mine?.kernel?.id ?? '';
        return mine?.kernel?.execution_state;
      },
      { timeout: 90000, message: `the kernel of ${path} becomes idle` }
    )
    .toBe('idle');
  return kernelId;
}

async function openSparkPanel(page: Page): Promise<Locator> {
  const panel = page.getByTestId('spark-panel');
  if (!(await panel.isVisible())) {
    await page.locator('.jp-SideBar [data-id="swan-ml-ext-spark"]').click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

/** Connect the active notebook with the `local` profile from the panel; the session card. */
async function connectLocal(page: Page, panel: Locator, kernelId: string): Promise<Locator> {
  const box = panel.getByTestId('spark-connect');
  await expect(box.getByTestId('spark-connect-button')).toBeEnabled();
  await box.getByTestId('spark-profile').selectOption('local');
  await box.getByTestId('spark-conf').fill(EXTRA_CONF);
  await box.getByTestId('spark-connect-button').click();
  const card = panel.locator('[data-testid="spark-session"][data-state="active"]');
  await expect(card).toHaveCount(1, SLOW);
  await expect(box.getByTestId('spark-connect-error')).toHaveCount(0);
  // registered for this notebook's kernel, with the conf asked for
  const sid = (await card.getAttribute('data-session-id')) as string;
  const session = await (await page.request.get(`${SPARK}/sessions/${sid}`)).json();
  expect(session).toMatchObject({
    kind: 'classic',
    source: 'kernel',
    kernel_id: kernelId,
    profile: 'local',
    master: 'local[2]',
    state: 'active'
  });
  expect(session.app_id).toMatch(/^local-\d+$/);
  return card;
}

/** Let the bars' width transitions finish, so that a screenshot shows the values asserted. */
async function barsSettled(page: Page): Promise<void> {
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter(a => a instanceof CSSTransition)
        .map(a => a.finished.catch(() => undefined))
    )
  );
}

async function stopRemainingSessions(page: Page): Promise<void> {
  const listed = await (await page.request.get(`${SPARK}/sessions`)).json();
  for (const s of listed.sessions.filter((x: any) => x.state === 'active')) {
    if (s.kernel_id) {
      // a kernel still running a Spark job refuses the stop (409): interrupt it first
      await page.request.post(`/api/kernels/${s.kernel_id}/interrupt`);
    }
    await expect
      .poll(async () => (await page.request.delete(`${SPARK}/sessions/${s.id}`)).status(), {
        timeout: 60000,
        intervals: [1000]
      })
      .toBe(204);
  }
}

test.describe('Spark', () => {
  test.afterEach(async ({ page }) => {
    await stopRemainingSessions(page);
  });

  test('connect from the panel, follow a cell to 100%, Spark UI executors, stop', async ({
    page,
    tmpPath
  }) => {
    const path = `${tmpPath}/spark.ipynb`;
    await page.contents.uploadContent(
      notebook({
        quick:
          'import time\n' +
          'def slow(x):\n' +
          '    time.sleep(1.5)\n' +
          '    return 2 * x\n' +
          "print('sum', spark.sparkContext.parallelize(range(8), 8).map(slow).sum())"
      }),
      'text',
      path
    );
    await page.notebook.openByPath(path);
    const kernelId = await idleKernel(page, path);
    const panel = await openSparkPanel(page);
    await expect(panel.getByTestId('spark-connect')).toContainText('spark.ipynb');
    await expect(panel.getByTestId('spark-profile')).toContainText('local (classic)');
    await page.screenshot({ path: `${SHOTS}/spark-1-connect.png` });

    const card = await connectLocal(page, panel, kernelId);
    const sid = (await card.getAttribute('data-session-id')) as string;
    // the box now says the notebook is connected instead of offering Connect again
    await expect(panel.getByTestId('spark-connect-reason')).toHaveText(
      'This notebook is connected (profile local).'
    );
    await expect(card.getByTestId('spark-session-origin')).toHaveText(path);

    // run the cell: its jobs under the cell and in the panel, grouped by the cell
    await page.notebook.runCell(0, { inplace: true, wait: false });
    const cellBar = page.locator('.jp-Cell').nth(0).getByTestId('spark-cell-progress');
    await expect(cellBar).toHaveAttribute('data-state', 'running', { timeout: 60000 });
    await expect(cellBar.getByRole('progressbar')).toBeVisible();
    await expect(cellBar).toContainText(/Spark job #\d+ running · \d\/8 tasks/);
    const group = card.locator('[data-testid="spark-cell-group"][data-cell-id="quick"]');
    await expect(group).toBeVisible();
    await expect(group.getByTestId('spark-job')).toHaveAttribute('data-status', 'RUNNING');
    await barsSettled(page);
    await page.screenshot({ path: `${SHOTS}/spark-2-running.png` });

    await expect(cellBar).toHaveAttribute('data-state', 'done', SLOW);
    await expect(cellBar).toHaveText('✓ 1 Spark job done · 8/8 tasks');
    await expect(group).toHaveAttribute('data-state', 'done');
    const job = group.getByTestId('spark-job');
    await expect(job).toHaveAttribute('data-status', 'SUCCEEDED');
    await expect(job.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
    await expect(job.getByTestId('spark-taskbar')).toContainText('8/8');
    // labelled with the cell's execution count and first line
    await expect(group).toHaveAttribute('aria-label', 'Spark jobs of [1] import time');
    await expect(
      page.locator('.jp-Cell').nth(0).locator('.jp-OutputArea-output')
    ).toContainText('sum 56');
    const jobs = await (await page.request.get(`${SPARK}/sessions/${sid}/jobs`)).json();
    expect(jobs.jobs).toHaveLength(1);
    expect(jobs.jobs[0]).toMatchObject({
      cell_id: 'quick',
      status: 'SUCCEEDED',
      num_tasks: 8,
      num_completed_tasks: 8
    });
    // the panel's executors: the driver of local[2]
    await card.getByTestId('spark-toggle-executors').click();
    await expect(card.getByTestId('spark-executor')).toHaveCount(1);
    await expect(card.getByTestId('spark-executor')).toHaveAttribute(
      'data-executor-id',
      'driver'
    );
    await barsSettled(page);
    await page.screenshot({ path: `${SHOTS}/spark-3-done.png` });

    // the Spark UI in a Lab tab, through the server's route; its Executors page works
    await card.getByTestId('spark-open-ui').click();
    const tab = page.locator(`[data-testid="spark-ui-tab"][data-session-id="${sid}"]`);
    await expect(tab).toBeVisible();
    await expect(tab.locator('iframe')).toHaveAttribute(
      'src',
      new RegExp(`/swan-ml-ext/spark/ui/${sid}/jobs/$`)
    );
    const ui = tab.frameLocator('iframe');
    await expect(ui.getByRole('heading', { name: /Spark Jobs/ })).toBeVisible(SLOW);
    await ui.getByRole('link', { name: 'Executors', exact: true }).click();
    const executors = ui.locator('#active-executors-table');
    await expect(executors).toBeVisible(SLOW);
    await expect(executors.locator('tbody tr').first()).toContainText('driver', SLOW);
    await expect(executors.locator('tbody tr').first()).toContainText('Active');
    await page.screenshot({ path: `${SHOTS}/spark-4-ui-executors.png` });

    // stop from the panel: the session ends, Connect is offered again, the tab says so
    await card.getByTestId('spark-stop').click();
    await expect(
      panel.locator(`[data-testid="spark-session"][data-session-id="${sid}"]`)
    ).toHaveCount(0, SLOW);
    await expect(panel.getByTestId('spark-connect-button')).toBeEnabled();
    const ended = await (await page.request.get(`${SPARK}/sessions/${sid}`)).json();
    expect(ended.state).toBe('ended');
    await expect(page.getByRole('tab', { name: /Spark UI: local .*\(ended\)/ })).toBeVisible();
    await panel.getByTestId('spark-toggle-ended').click();
    await expect(
      panel.locator(`[data-testid="spark-session"][data-session-id="${sid}"]`)
    ).toHaveAttribute('data-state', 'ended');
    await page.screenshot({ path: `${SHOTS}/spark-5-stopped.png` });
  });

  test('kill a long Spark job from the panel', async ({ page, tmpPath }) => {
    const path = `${tmpPath}/long.ipynb`;
    await page.contents.uploadContent(
      notebook({
        long:
          'import time\n' +
          'def forever(x):\n' +
          '    time.sleep(3600)\n' +
          '    return x\n' +
          'spark.sparkContext.parallelize(range(2), 2).map(forever).sum()'
      }),
      'text',
      path
    );
    await page.notebook.openByPath(path);
    const kernelId = await idleKernel(page, path);
    const panel = await openSparkPanel(page);
    const card = await connectLocal(page, panel, kernelId);
    const sid = (await card.getAttribute('data-session-id')) as string;

    await page.notebook.runCell(0, { inplace: true, wait: false });
    const group = card.locator('[data-testid="spark-cell-group"][data-cell-id="long"]');
    const running = group.locator('[data-testid="spark-job"][data-status="RUNNING"]');
    await expect(running).toHaveCount(1, { timeout: 60000 });
    await expect(group).toHaveAttribute('data-state', 'running');
    const jobId = (await running.getAttribute('data-job-id')) as string;
    const cellBar = page.locator('.jp-Cell').nth(0).getByTestId('spark-cell-progress');
    await expect(cellBar).toHaveAttribute('data-state', 'running');
    await expect(cellBar.getByTestId('spark-cell-kill')).toBeVisible();
    // both tasks started (each sleeps an hour): the kill has something to interrupt
    await expect(running.getByTestId('spark-taskbar')).toContainText('2 active', {
      timeout: 60000
    });
    await barsSettled(page);
    await page.screenshot({ path: `${SHOTS}/spark-6-long-running.png` });

    await running.getByTestId('spark-kill').click();
    const job = group.locator(`[data-testid="spark-job"][data-job-id="${jobId}"]`);
    await expect(job).toHaveAttribute('data-status', 'FAILED', { timeout: 60000 });
    await expect(job.getByTestId('spark-kill')).toHaveCount(0);
    await expect(group).toHaveAttribute('data-state', 'failed');
    await expect(cellBar).toHaveAttribute('data-state', 'failed');
    await expect(cellBar).toContainText('✗ 1 Spark job, 1 failed');
    await expect(cellBar.getByTestId('spark-cell-kill')).toHaveCount(0);
    // the cell itself ends with Spark's cancellation, long before its hour of sleep
    // (Spark's own WARN lines about the killed tasks may come as a separate stderr output)
    await expect(
      page
        .locator('.jp-Cell')
        .nth(0)
        .locator('.jp-OutputArea-output')
        .filter({ hasText: 'Py4JJavaError' })
    ).toContainText(`[SPARK_JOB_CANCELLED] Job ${jobId} cancelled`, { timeout: 60000 });
    await idleKernel(page, path);
    const listed = await (await page.request.get(`${SPARK}/sessions/${sid}/jobs`)).json();
    expect(listed.jobs.find((j: any) => String(j.job_id) === jobId)).toMatchObject({
      status: 'FAILED',
      cell_id: 'long'
    });
    // the group's label follows the cell: run, then ended ("[*]" while it ran)
    await expect(group).toHaveAttribute('aria-label', 'Spark jobs of [1] import time');
    await page.screenshot({ path: `${SHOTS}/spark-7-killed.png` });
  });

  test('a refused configuration: one clear line, nothing started', async ({
    page,
    tmpPath
  }) => {
    const path = `${tmpPath}/refused.ipynb`;
    await page.contents.uploadContent(notebook({ one: 'spark' }), 'text', path);
    await page.notebook.openByPath(path);
    await idleKernel(page, path);
    const panel = await openSparkPanel(page);
    const before = (await (await page.request.get(`${SPARK}/sessions`)).json()).sessions.length;
    const box = panel.getByTestId('spark-connect');
    await expect(box.getByTestId('spark-connect-button')).toBeEnabled();
    await box.getByTestId('spark-profile').selectOption('local');
    await box.getByTestId('spark-conf').fill('spark.task.resource.gpu.amount=1');
    await box.getByTestId('spark-connect-button').click();
    await expect(box.getByTestId('spark-connect-error')).toContainText(
      'task gpu amounts on plain local[2] would make every job wait forever'
    );
    await page.screenshot({ path: `${SHOTS}/spark-8-refused.png` });
    expect((await (await page.request.get(`${SPARK}/sessions`)).json()).sessions).toHaveLength(
      before
    );
    await expect(box.getByTestId('spark-connect-button')).toBeEnabled();
  });
});
