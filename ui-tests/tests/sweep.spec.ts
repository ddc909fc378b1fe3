/**
 * Parameter sweeps from Lab (issue 12): a 2 x 2 grid built in the dialog's Sweep section (lr as
 * a list, seed as a range, values to collect picked among the notebook's variables), run on the
 * personal HTCondor pool as one cluster, followed to completion in its results view and in the
 * sidebar as one row; the table sorted by a click; the chart drawn by JupyterLab's own Vega-Lite
 * renderer; the CSV saved as a file.
 */
import { expect, test } from '@jupyterlab/galata';
import { readFile } from 'fs/promises';

import { notebook } from './notebooks';

const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';
const SLOW = { timeout: 150000 };

/** val_loss = 10 lr + seed: each point's value is known, and sorting it is not by text. */
const NOTEBOOK = notebook(
  ['val_loss = round(lr * 10 + seed, 6)\naccuracy = round(1 - lr, 6)\nprint(val_loss)'],
  'lr = 0.01\nseed = 1'
);

test('a 2 x 2 sweep from the dialog: results table, sorting, chart, sidebar row', async ({
  page,
  tmpPath
}) => {
  await page.contents.uploadContent(NOTEBOOK, 'text', `${tmpPath}/train.ipynb`);
  await page.notebook.openByPath(`${tmpPath}/train.ipynb`);
  await page.getByRole('button', { name: /^Run on batch/ }).first().click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();

  // Build the grid: lr as a list, seed as a range (both ends included)
  await dialog.getByRole('button', { name: 'Sweep' }).click();
  await dialog.getByLabel('Sweep lr', { exact: true }).selectOption('list');
  await dialog.getByLabel('lr values', { exact: true }).fill('0.01, 0.02');
  await expect(dialog.getByTestId('sweep-count')).toHaveText('2 points');
  await dialog.getByLabel('Sweep seed', { exact: true }).selectOption('range');
  await dialog.getByLabel('seed from', { exact: true }).fill('1');
  await dialog.getByLabel('seed to', { exact: true }).fill('2');
  await dialog.getByLabel('seed step', { exact: true }).fill('1');
  await expect(dialog.getByTestId('sweep-count')).toHaveText('2 × 2 = 4 points');
  // the values to collect are offered from the notebook's own variables
  const collect = dialog.getByRole('group', { name: 'Collect' });
  await expect(collect.getByRole('checkbox')).toHaveCount(2);
  await collect.getByRole('checkbox', { name: 'val_loss' }).check();
  await collect.getByRole('checkbox', { name: 'accuracy' }).check();
  await dialog.getByLabel('Job name', { exact: true }).fill('ui grid');
  await dialog.getByTestId('sweep-section').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/sweep-1-dialog.png` });
  await dialog.getByRole('button', { name: 'Submit job' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);

  // The results view opens and follows the sweep to the end
  const view = page.getByTestId('sweep-view');
  await expect(view).toBeVisible();
  await expect(view.getByRole('heading', { name: 'ui grid' })).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/sweep-2-running.png` });
  await expect(view.getByTestId('sweep-progress-text')).toHaveText('4 of 4 done', SLOW);
  await expect(view.getByTestId('sweep-header').locator('.jp-SwanML-badge')).toHaveText(
    'completed'
  );
  const bar = view.getByTestId('sweep-header').getByRole('progressbar');
  await expect(bar).toHaveAttribute('aria-valuenow', '4');
  await expect(view.getByRole('button', { name: 'Resubmit failed' })).toBeDisabled();
  await expect(view.getByRole('button', { name: 'Cancel sweep' })).toBeDisabled();

  // What the server says: one HTCondor submission for the 4 points, each its own value
  const listed = await (await page.request.get('/swan-ml-ext/sweeps')).json();
  const id = listed.sweeps.find((s: any) => s.notebook.endsWith(`${tmpPath}/train.ipynb`)).id;
  const sweep = await (await page.request.get(`/swan-ml-ext/sweeps/${id}`)).json();
  expect(sweep).toMatchObject({
    name: 'ui grid',
    state: 'completed',
    parameters: ['lr', 'seed'],
    collect: ['val_loss', 'accuracy'],
    counts: { total: 4, completed: 4 },
    engine: { submissions: 1, batch: true }
  });
  expect(sweep.rows.map((r: any) => [r.lr, r.seed, r.val_loss])).toEqual([
    [0.01, 1, 1.1],
    [0.01, 2, 2.1],
    [0.02, 1, 1.2],
    [0.02, 2, 2.2]
  ]);
  // The CSV: fetched with the page's server settings and saved as a file
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    view.getByRole('button', { name: 'Download CSV' }).click()
  ]);
  expect(download.suggestedFilename()).toBe('ui grid.csv');
  const csv = await readFile((await download.path()) as string, 'utf-8');
  expect(csv.split(/\r?\n/)[0]).toContain('val_loss');
  expect(csv.split(/\r?\n/).filter(Boolean)).toHaveLength(5);

  // The table: points in order, then sorted by val_loss, descending on a second click
  const table = view.getByRole('table', { name: 'Sweep results' });
  const cells = table.locator('td[data-column="val_loss"]');
  await expect(cells).toHaveText(['1.1', '2.1', '1.2', '2.2']);
  const header = table.getByRole('columnheader', { name: /val_loss/ });
  await header.getByRole('button').click();
  await expect(cells).toHaveText(['1.1', '1.2', '2.1', '2.2']);
  await expect(header).toHaveAttribute('aria-sort', 'ascending');
  await header.getByRole('button').click();
  await expect(cells).toHaveText(['2.2', '2.1', '1.2', '1.1']);
  await expect(header).toHaveAttribute('aria-sort', 'descending');
  await expect(table.locator('td[data-column="state"] .jp-SwanML-badge')).toHaveText(
    Array(4).fill('completed')
  );

  // The chart: val_loss against lr, drawn by JupyterLab's Vega-Lite renderer
  const chart = view.getByTestId('sweep-chart');
  await expect(chart.getByLabel('Chart value')).toHaveValue('val_loss');
  await expect(chart.getByLabel('Chart parameter')).toHaveValue('lr');
  const plot = chart.locator('.jp-RenderedVegaLite');
  await expect(plot.locator('canvas, svg').first()).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/sweep-3-results.png` });
  await chart.getByLabel('Chart parameter').selectOption('seed');
  await chart.getByLabel('Chart value').selectOption('accuracy');
  await expect(plot.locator('canvas, svg').first()).toBeVisible();

  // A point's executed notebook opens from its row
  await table.getByRole('button', { name: 'Open the executed notebook of point 0' }).click();
  await expect(page.locator('.jp-OutputArea-output').getByText('1.1')).toBeVisible();

  // The sidebar: the 4 points are one sweep row, which opens the results view
  await page.sidebar.openTab('swan-ml-ext-monitor');
  const jobs = page.getByRole('list', { name: 'Jobs' });
  const row = jobs.getByRole('listitem', { name: 'ui grid sweep completed' });
  await expect(row).toBeVisible();
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuetext', '4 of 4 done');
  await expect(jobs.getByRole('listitem', { name: /^ui grid \(lr=/ })).toHaveCount(0);
  await page.screenshot({ path: `${SHOTS}/sweep-4-sidebar.png` });
  await row.click();
  await expect(page.getByTestId('sweep-view')).toBeVisible();
});
