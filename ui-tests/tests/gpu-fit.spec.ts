import { expect, test } from '@jupyterlab/galata';

import { jobCount, notebook } from './notebooks';

/**
 * GPU fit in the submit dialog, against the personal pool's simulated GPUs (one Tesla
 * V100-PCIE-16GB and two A100-SXM4-40GB on one machine): the pool per model, the GPU model
 * choice, and the check as the user edits (POST jobs/check) above Submit.
 */
const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';

const NOTEBOOK = notebook(["print('epochs', epochs)"], 'epochs = 1');


test('the dialog says whether the pool can run the job, as the user edits', async ({
  page,
  tmpPath
}) => {
  await page.contents.uploadContent(NOTEBOOK, 'text', `${tmpPath}/train.ipynb`);
  const before = await jobCount(page);
  await page.notebook.openByPath(`${tmpPath}/train.ipynb`);
  await page.getByRole('button', { name: /^Run on batch/ }).first().click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();

  // The pool's GPUs, per model, next to the GPU fields (simulated memory: not 40 GB)
  const pool = dialog.getByRole('list', { name: 'Pool GPUs by model' });
  await expect(pool.getByRole('listitem').filter({ hasText: 'A100-SXM4-40GB' })).toContainText(
    /of 2 free · [\d.]+ GB · cc 8\.0/
  );
  await expect(
    pool.getByRole('listitem').filter({ hasText: 'Tesla V100-PCIE-16GB' })
  ).toContainText(/of 1 free · [\d.]+ GB · cc 7\.0/);
  // and a GPU model to pick among them, or any
  const model = dialog.getByLabel('GPU model', { exact: true });
  const options = await model.locator('option').allTextContents();
  expect(options[0]).toBe('any');
  expect(options.slice(1).sort()).toEqual(['A100-SXM4-40GB', 'Tesla V100-PCIE-16GB']);

  const fit = dialog.getByRole('status', { name: 'Pool fit' });
  // The opened dialog's values fit
  await expect(fit).toContainText(/can run it now|it will wait/);

  // When the user asks for 4 GPUs: no machine has them, said before Submit
  await dialog.getByLabel('GPUs', { exact: true }).fill('4');
  await expect(fit).toContainText('no machine has 4 GPUs; the largest has 3');
  await expect(fit).toHaveClass(/jp-mod-infeasible/);
  const anyway = dialog.getByRole('button', { name: 'Submit job anyway' });
  await expect(anyway).toHaveText('Submit anyway');
  await expect(anyway).toBeEnabled();
  await page.screenshot({ path: `${SHOTS}/gpu-fit-1-infeasible.png` });

  // When the user asks for one GPU with 80 GB: none has that much
  await dialog.getByLabel('GPUs', { exact: true }).fill('1');
  await dialog.getByLabel('Minimum GPU memory (MB)', { exact: true }).fill('81920');
  await expect(fit).toContainText(/no GPU has 80 GB; the largest has [\d.]+ GB \(A100-SXM4-40GB\)/);

  // When the user picks an A100 instead: it fits, and Submit is itself again
  await dialog.getByLabel('Minimum GPU memory (MB)', { exact: true }).fill('');
  await model.selectOption({ label: 'A100-SXM4-40GB' });
  // (the A100s may be busy with other jobs: then it says it will wait)
  await expect(fit).toHaveText(
    /^2 GPUs match \(\d free now\)|^matches, but every matching GPU is busy now \(2 A100-SXM4-40GB\)/
  );
  await expect(fit).not.toHaveClass(/jp-mod-infeasible/);
  await expect(dialog.getByRole('button', { name: 'Submit job', exact: true })).toHaveText(
    'Submit'
  );
  await page.screenshot({ path: `${SHOTS}/gpu-fit-2-feasible.png` });

  // Checking submitted nothing
  expect(await jobCount(page)).toBe(before);

  // When the user submits 4 GPUs anyway, the job waits, and its row in the sidebar says why
  await model.selectOption({ label: 'any' });
  await dialog.getByLabel('GPUs', { exact: true }).fill('4');
  await dialog.getByLabel('Job name', { exact: true }).fill('gpu-fit four');
  await expect(fit).toContainText('no machine has 4 GPUs; the largest has 3');
  await dialog.getByRole('button', { name: 'Submit job anyway' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  const row = page
    .getByRole('list', { name: 'Jobs' })
    .getByRole('listitem', { name: 'gpu-fit four pending' });
  await expect(row).toContainText(
    'waiting: no machine has 4 GPUs; the largest has 3 — cancel and resubmit'
  );
  await page.screenshot({ path: `${SHOTS}/gpu-fit-3-pending-row.png` });

  // (cancelled: the pool is shared with the other tests)
  await row.click();
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(page.getByText('cancelled by the user')).toBeVisible();
});
