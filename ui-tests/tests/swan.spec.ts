import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';

function notebook(cells: string[], params?: string): string {
  const code = (source: string, tags: string[] = []) => ({
    cell_type: 'code',
    metadata: { tags },
    source,
    outputs: [],
    execution_count: null
  });
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
    },
    cells: [
      ...(params ? [code(params, ['parameters'])] : []),
      ...cells.map(c => code(c))
    ]
  });
}

async function jobCount(page: Page): Promise<number> {
  const resp = await page.request.get('/swan-ml-ext/jobs?limit=1');
  return (await resp.json()).total;
}

async function openRunOnBatch(page: Page): Promise<void> {
  await page.getByRole('button', { name: /^Run on batch/ }).first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
}

test.describe('Run on batch', () => {
  test.beforeEach(async ({ page, tmpPath }) => {
    await page.contents.uploadContent(
      notebook(["print('twice:', x * 2)\nprint('label:', label)"], "x = 1\nlabel = 'default'"),
      'text',
      `${tmpPath}/sweep.ipynb`
    );
    await page.contents.uploadContent(
      notebook(['import time\ntime.sleep(300)']),
      'text',
      `${tmpPath}/slow.ipynb`
    );
  });

  test('submit from the toolbar, follow it in the sidebar, open the result', async ({
    page,
    tmpPath
  }) => {
    await page.notebook.openByPath(`${tmpPath}/sweep.ipynb`);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    // parameters are pre-filled from the tagged cell, typed
    await expect(dialog.getByLabel('x (int)', { exact: true })).toHaveValue('1');
    await expect(dialog.getByLabel('label (str)', { exact: true })).toHaveValue('default');
    await expect(dialog.getByText(/GPUs free/)).toBeVisible();
    await dialog.getByLabel('x (int)', { exact: true }).fill('21');
    await dialog.getByLabel('label (str)', { exact: true }).fill('from the UI');
    await dialog.getByLabel('Job name', { exact: true }).fill('ui sweep');
    await page.screenshot({ path: `${SHOTS}/1-dialog.png` });
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);

    const jobs = page.getByRole('list', { name: 'Jobs' });
    await expect(jobs.getByRole('listitem', { name: /ui sweep/ })).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/2-monitor-running.png` });
    await expect(
      jobs.getByRole('listitem', { name: 'ui sweep completed' })
    ).toBeVisible({ timeout: 120000 });
    await page.screenshot({ path: `${SHOTS}/3-monitor-completed.png` });

    await jobs.getByRole('listitem', { name: 'ui sweep completed' }).click();
    await expect(page.getByLabel('Log tail')).toContainText('twice: 42');
    await page.screenshot({ path: `${SHOTS}/4-detail.png` });
    await page
      .locator('.jp-SwanML-detail')
      .getByRole('button', { name: 'Open result' })
      .click();
    await expect(page.getByRole('tab', { name: /sweep\.ipynb/ }).nth(1)).toBeVisible();
    await expect(
      page.locator('.jp-OutputArea-output').getByText('label: from the UI')
    ).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/5-result.png` });

    // resubmit with edits: the dialog comes prefilled from the job
    await page
      .locator('.jp-SwanML-detail')
      .getByRole('button', { name: 'Resubmit…' })
      .click();
    const again = page.getByRole('dialog');
    await expect(again.getByLabel('x (int)', { exact: true })).toHaveValue('21');
    await expect(again.getByLabel('Job name', { exact: true })).toHaveValue('ui sweep');
    await again.getByLabel('x (int)', { exact: true }).fill('5');
    await again.getByLabel('Job name', { exact: true }).fill('ui sweep 2');
    await again.getByRole('button', { name: 'Submit job' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    const resp = await page.request.get('/swan-ml-ext/jobs?limit=1');
    const newest = (await resp.json()).jobs[0];
    expect(newest.name).toBe('ui sweep 2');
    expect(newest.parameters).toEqual({ x: 5, label: 'from the UI' });
  });

  test('an invalid value shows an inline error and submits nothing', async ({
    page,
    tmpPath
  }) => {
    await page.notebook.openByPath(`${tmpPath}/sweep.ipynb`);
    const before = await jobCount(page);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('CPUs', { exact: true }).fill('0');
    await dialog.getByLabel('x (int)', { exact: true }).fill('forty');
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(dialog.getByRole('alert').filter({ hasText: 'cpus must be at least 1' })).toBeVisible();
    await expect(dialog.getByRole('alert').filter({ hasText: 'x must be an integer' })).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/6-invalid.png` });
    await expect(page.getByRole('dialog')).toBeVisible();
    expect(await jobCount(page)).toBe(before);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await jobCount(page)).toBe(before);
  });

  test('cancel a running job from the sidebar', async ({ page, tmpPath }) => {
    await page.notebook.openByPath(`${tmpPath}/slow.ipynb`);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Memory (MB)', { exact: true }).fill('256');
    await dialog.getByLabel('Job name', { exact: true }).fill('to cancel');
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    const jobs = page.getByRole('list', { name: 'Jobs' });
    await jobs.getByRole('listitem', { name: /to cancel/ }).click();
    await page
      .locator('.jp-SwanML-detail')
      .getByRole('button', { name: 'Cancel' })
      .click();
    await expect(page.locator('.jp-SwanML-detail .jp-SwanML-badge')).toHaveText(
      'cancelled'
    );
    await page.screenshot({ path: `${SHOTS}/7-cancelled.png` });
    await page.getByRole('button', { name: '← All jobs' }).click();
    await expect(jobs.getByRole('listitem', { name: 'to cancel cancelled' })).toBeVisible();
  });
});
