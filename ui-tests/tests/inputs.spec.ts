import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';

import { notebook } from './notebooks';

/**
 * Data that travels with the notebook (issue 13), on the personal HTCondor pool: the notebook
 * ana/read.ipynb reads data/ next to it; the dialog's "Files sent with the job" is pre-filled
 * with what the server found in its code; a job sent without it fails saying what was missing,
 * and Resubmit offers it pre-added.
 */
const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';

const READER = [
  'import csv, glob',
  "names = sorted(glob.glob('data/*.csv'))",
  "with open('data/events.csv') as f:",
  '    rows = list(csv.DictReader(f))',
  "print('files:', len(names), 'events:', len(rows))",
  "print('energy:', sum(float(r['energy']) for r in rows))"
].join('\n');

async function newestJob(page: Page): Promise<any> {
  return (await (await page.request.get('/swan-ml-ext/jobs?limit=1')).json()).jobs[0];
}

/** ana/read.ipynb open in its Run on batch dialog, the detected data/ shown in its files. */
async function openReader(
  page: IJupyterLabPageFixture,
  tmpPath: string
): Promise<{ dialog: Locator; section: Locator; data: Locator }> {
  await page.notebook.openByPath(`${tmpPath}/ana/read.ipynb`);
  await page.getByRole('button', { name: /^Run on batch/ }).first().click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  const section = dialog.getByRole('group', { name: 'Files sent with the job' });
  const data = section.getByRole('listitem', { name: `${tmpPath}/ana/data/`, exact: true });
  await expect(data).toBeVisible();
  return { dialog, section, data };
}

test.describe('Files sent with the job', () => {
  test.beforeEach(async ({ page, tmpPath }) => {
    await page.contents.uploadContent(notebook([READER]), 'text', `${tmpPath}/ana/read.ipynb`);
    await page.contents.uploadContent(
      'event,energy\n1,10.5\n2,20.25\n3,5\n',
      'text',
      `${tmpPath}/ana/data/events.csv`
    );
    await page.contents.uploadContent('event,energy\n4,1\n', 'text', `${tmpPath}/ana/data/more.csv`);
    await page.contents.uploadContent('not read by the notebook\n', 'text', `${tmpPath}/extra.txt`);
  });

  test('the detected data/ is pre-filled and the job completes with it', async ({
    page,
    tmpPath
  }) => {
    const name = `read events ${Date.now().toString(36)}`;
    // The server found data/ in the code (glob and open): pre-filled, with its size
    const { dialog, section, data } = await openReader(page, tmpPath);
    // shown as the notebook reads it, from its folder
    await expect(data.locator('.jp-SwanInputs-path')).toHaveText('data/');
    await expect(data).toContainText(/\d+ bytes · 2 files/);
    await expect(data).toContainText('cell 1');
    await expect(section.getByLabel('Total sent')).toHaveText(/^Total: \d+ bytes in 2 files$/);
    // Add… a path (Enter adds it: the dialog stays open)
    await section.getByRole('button', { name: 'Add…' }).click();
    const path = section.getByLabel('Path to add');
    await path.fill(`${tmpPath}/extra.txt`);
    await path.press('Enter');
    const extra = section.getByRole('listitem', { name: `${tmpPath}/extra.txt`, exact: true });
    await expect(extra).toContainText('added');
    // from outside the notebook's folder: its path from the root, and the name it arrives by
    await expect(extra.locator('.jp-SwanInputs-path')).toHaveText(`${tmpPath}/extra.txt → extra.txt`);
    await expect(dialog).toBeVisible();
    await expect(path).toHaveValue('');
    await section.getByRole('button', { name: 'Done' }).click();
    await expect(section.getByLabel('Total sent')).toHaveText(/^Total: \d+ bytes in 3 files$/);
    await dialog.getByLabel('Job name', { exact: true }).fill(name);
    await expect(dialog.getByRole('status', { name: 'Pool fit' })).toHaveAttribute(
      'aria-busy',
      'false'
    );
    await page.screenshot({ path: `${SHOTS}/inputs-1-dialog.png` });
    await dialog.getByRole('button', { name: /^Submit job/ }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);

    const job = await newestJob(page);
    expect(job.name).toBe(name);
    expect(job.inputs).toEqual([`${tmpPath}/ana/data`, `${tmpPath}/extra.txt`]);
    const jobs = page.getByRole('list', { name: 'Jobs' });
    await expect(jobs.getByRole('listitem', { name: `${name} completed`, exact: true })).toBeVisible({
      timeout: 150000
    });
    await jobs.getByRole('listitem', { name: `${name} completed`, exact: true }).click();
    const detail = page.locator('.jp-SwanML-detail');
    const inputs = detail.locator('dt', { hasText: 'Inputs' }).locator('xpath=following-sibling::dd[1]');
    await expect(inputs).toHaveText(`${tmpPath}/ana/data, ${tmpPath}/extra.txt`);
    await expect(page.getByLabel('Log tail')).toContainText('files: 2 events: 3');
    await expect(page.getByLabel('Log tail')).toContainText('energy: 35.75');
    await page.screenshot({ path: `${SHOTS}/inputs-2-job-view.png` });
  });

  test('sent without data/ it fails saying so; Resubmit offers it pre-added', async ({
    page,
    tmpPath
  }) => {
    const name = `read missing ${Date.now().toString(36)}`;
    const { dialog, section, data } = await openReader(page, tmpPath);
    // Removed, it stays removed while another field changes (and is checked again)
    await section.getByRole('button', { name: `Remove ${tmpPath}/ana/data/` }).click();
    await expect(data).toContainText('not sent');
    await dialog.getByLabel('Job name', { exact: true }).fill(name);
    await expect(dialog.getByRole('status', { name: 'Pool fit' })).toHaveAttribute(
      'aria-busy',
      'false'
    );
    await expect(data).toContainText('not sent');
    await expect(section.getByLabel('Total sent')).toHaveText('Total: nothing but the notebook');
    await page.screenshot({ path: `${SHOTS}/inputs-3-removed.png` });
    await dialog.getByRole('button', { name: /^Submit job/ }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    expect((await newestJob(page)).inputs).toEqual([]);

    const jobs = page.getByRole('list', { name: 'Jobs' });
    await expect(jobs.getByRole('listitem', { name: `${name} failed`, exact: true })).toBeVisible({
      timeout: 150000
    });
    await jobs.getByRole('listitem', { name: `${name} failed`, exact: true }).click();
    const detail = page.locator('.jp-SwanML-detail');
    await expect(detail.locator('.jp-SwanML-message')).toContainText(
      "'data/events.csv' exists in your workspace but was not sent with the job"
    );
    await page.screenshot({ path: `${SHOTS}/inputs-4-failed.png` });

    // Resubmit: what it lacked comes pre-added, with a note; the detected data/ holds it
    await detail.getByRole('button', { name: 'Resubmit…' }).click();
    const again = page.getByRole('dialog');
    const resent = again.getByRole('group', { name: 'Files sent with the job' });
    // said at the top of the dialog, with a way to the list
    await expect(again.getByRole('note', { name: 'Inputs added' })).toContainText(
      'added: data/events.csv — the job failed because it was missing'
    );
    await page.screenshot({ path: `${SHOTS}/inputs-5-resubmit-note.png` });
    await again.getByRole('button', { name: 'Show the files sent' }).click();
    await expect(resent).toBeInViewport();
    await expect(
      resent.getByRole('listitem', { name: `${tmpPath}/ana/data/events.csv`, exact: true })
    ).toContainText('it was missing');
    await expect(resent.getByRole('listitem', { name: `${tmpPath}/ana/data/`, exact: true })).toContainText(
      '2 files'
    );
    await page.screenshot({ path: `${SHOTS}/inputs-6-resubmit-list.png` });
    await again.getByLabel('Job name', { exact: true }).fill(`${name} again`);
    await again.getByRole('button', { name: /^Submit job/ }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    const job = await newestJob(page);
    expect(job.name).toBe(`${name} again`);
    expect(job.inputs).toEqual([`${tmpPath}/ana/data`]);
    await page.getByRole('button', { name: '← All jobs' }).click();
    await expect(jobs.getByRole('listitem', { name: `${name} again completed`, exact: true })).toBeVisible({
      timeout: 150000
    });
    await jobs.getByRole('listitem', { name: `${name} again completed`, exact: true }).click();
    await expect(page.getByLabel('Log tail')).toContainText('files: 2 events: 3');
    await page.screenshot({ path: `${SHOTS}/inputs-7-resubmitted.png` });
  });
});
