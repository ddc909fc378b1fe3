import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

import { jobCount, notebook } from './notebooks';

const SHOTS = process.env.SWAN_SCREENSHOTS ?? 'test-results/screens';



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

  test('the resource fields are the backend\'s resource schema', async ({ page, tmpPath }) => {
    const resp = await page.request.get('/swan-ml-ext/backends');
    const published = await resp.json();
    const backend = published.backends.find((b: any) => b.name === published.default_backend);
    const props = backend.resource_schema.properties as Record<string, any>;
    await page.notebook.openByPath(`${tmpPath}/sweep.ipynb`);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    await expect(dialog.getByLabel('Backend', { exact: true })).toHaveValue(backend.name);
    // one field per property, in the schema's order, titled (with the unit) and bounded by it
    const shown = await dialog
      .locator('.jp-SwanML-resources input, .jp-SwanML-resources select')
      .evaluateAll(els => els.map(e => e.id.replace(/^swan-resources_/, '')));
    expect(shown).toEqual(Object.keys(props));
    for (const [key, field] of Object.entries(props)) {
      const title = field['x-unit'] ? `${field.title} (${field['x-unit']})` : field.title;
      const input = dialog.getByLabel(title, { exact: true });
      await expect(input).toHaveAttribute('id', `swan-resources_${key}`);
      await expect(input).toHaveValue(field.default === null ? '' : String(field.default));
    }
    await expect(dialog.getByText(/GPUs free/)).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/0-dialog-schema.png` });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  test('preview what HTCondor would get, submitting nothing', async ({ page, tmpPath }) => {
    await page.notebook.openByPath(`${tmpPath}/sweep.ipynb`);
    const before = await jobCount(page);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Memory (MB)', { exact: true }).fill('3000');
    await dialog.getByLabel('GPUs', { exact: true }).fill('1');
    await dialog.getByLabel('Minimum GPU memory (MB)', { exact: true }).fill('8000');
    const toggle = dialog.getByRole('button', { name: 'Preview' });
    await expect(toggle).toHaveAttribute('aria-expanded', 'false');
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-expanded', 'true');
    // the HTCondor submit description of the form's values, and the wrapper it runs
    const preview = dialog.getByLabel('Preview', { exact: true }).and(dialog.locator('pre'));
    await expect(preview).toContainText(/^executable = .*\/swan_job\.sh$/m);
    await expect(preview).toContainText(/^request_memory = 3000M$/m);
    await expect(preview).toContainText(/^request_gpus = 1$/m);
    await expect(preview).toContainText(/^require_gpus = GlobalMemoryMb >= 8000$/m);
    await expect(preview).toContainText('#!/bin/sh');
    await expect(dialog.getByText(/htcondor-submit: what HTCondor would get/)).toBeVisible();
    expect(await preview.evaluate(e => getComputedStyle(e).fontFamily)).toMatch(/mono/i);
    await page.screenshot({ path: `${SHOTS}/11-preview.png` });
    // it follows the form: a changed value is previewed again
    await dialog.getByLabel('CPUs', { exact: true }).fill('3');
    await expect(preview).toContainText(/^request_cpus = 3$/m);
    // a value only the server refuses: its message, shown as a refused submission's
    await dialog.getByLabel('GPUs', { exact: true }).fill('0');
    await expect(
      dialog.getByRole('alert').filter({ hasText: 'need gpus >= 1' })
    ).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/12-preview-refused.png` });
    await toggle.click();
    await expect(dialog.locator('pre')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await jobCount(page)).toBe(before);
  });

  test('another backend: its own fields, and only the actions it has', async ({ page, tmpPath }) => {
    // ui_backend.py: executors and a size, cancel only, an engine reference labelled "ticket"
    await page.notebook.openByPath(`${tmpPath}/slow.ipynb`);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Backend', { exact: true }).selectOption('queue');
    await expect(dialog.getByLabel('Executors', { exact: true })).toHaveValue('2');
    await expect(dialog.getByLabel('Executor size', { exact: true })).toBeVisible();
    await expect(dialog.getByLabel('Memory (MB)', { exact: true })).toHaveCount(0);
    await expect(dialog.getByText(/GPUs free/)).toHaveCount(0);
    await dialog.getByLabel('Executors', { exact: true }).fill('9');
    await expect(dialog.getByRole('alert').filter({ hasText: 'Executors must be at most 8' })).toBeVisible();
    await dialog.getByLabel('Executors', { exact: true }).fill('3');
    await dialog.getByLabel('Executor size', { exact: true }).selectOption({ label: 'large' });
    await dialog.getByLabel('Job name', { exact: true }).fill('queued');
    await page.screenshot({ path: `${SHOTS}/9-dialog-other-backend.png` });
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    const newest = (await (await page.request.get('/swan-ml-ext/jobs?limit=1')).json()).jobs[0];
    expect(newest.backend).toBe('queue');
    expect(newest.resources).toEqual({ executors: 3, executor_size: 'large' });

    const jobs = page.getByRole('list', { name: 'Jobs' });
    await jobs.getByRole('listitem', { name: /^queued/ }).click();
    const detail = page.locator('.jp-SwanML-detail');
    const engine = detail.locator('dt', { hasText: 'Engine' }).locator('xpath=following-sibling::dd[1]');
    await expect(engine).toHaveText(/^ticket \d+$/);
    const resources = detail.locator('dt', { hasText: 'Resources' }).locator('xpath=following-sibling::dd[1]');
    await expect(resources).toHaveText('Executors 3 · Executor size large');
    await expect(detail.getByRole('button', { name: 'Cancel' })).toBeVisible();
    await expect(detail.getByRole('button', { name: 'Hold' })).toHaveCount(0);
    await expect(detail.locator('progress')).toHaveCount(0);
    await expect(page.getByLabel('Log tail')).toHaveText('The log is shown once the job has finished.');
    await page.screenshot({ path: `${SHOTS}/10-job-view-other-backend.png` });
    await detail.getByRole('button', { name: 'Cancel' }).click();
    await expect(detail.locator('.jp-SwanML-badge')).toHaveText('cancelled');
  });

  test('Kubeflow Pipelines: its own fields, the pipeline YAML, run embedded to completed', async ({
    page,
    tmpPath
  }) => {
    // parameters, then a pause long enough to see the run's cell progress, then the effect
    await page.contents.uploadContent(
      notebook(
        ['import time\ntime.sleep(6)', "print('twice:', x * 2)\nprint('label:', label)"],
        "x = 1\nlabel = 'default'"
      ),
      'text',
      `${tmpPath}/kfp.ipynb`
    );
    const published = await (await page.request.get('/swan-ml-ext/backends')).json();
    const kfp = published.backends.find((b: any) => b.name === 'kubeflow');
    expect(kfp, 'the kubeflow backend is published').toBeTruthy();
    expect(kfp.title).toBe('Kubeflow Pipelines');
    expect(kfp.available).toBe(true);
    const props = kfp.resource_schema.properties as Record<string, any>;
    const name = `kfp sweep ${Date.now().toString(36)}`; // one per run of a shared server

    await page.notebook.openByPath(`${tmpPath}/kfp.ipynb`);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    const backendSelect = dialog.getByLabel('Backend', { exact: true });
    await expect(backendSelect.locator('option', { hasText: 'Kubeflow Pipelines' })).toHaveCount(1);
    await backendSelect.selectOption({ label: 'Kubeflow Pipelines' });
    await expect(backendSelect).toHaveValue('kubeflow');
    // its own fields, from its resource schema, in its order; none of HTCondor's own
    const accelerator = dialog.getByLabel('Accelerator type', { exact: true });
    await expect(accelerator).toBeVisible();
    // optional, unset: shown as "not set" (not as its first type), and no option reads "null"
    await expect(accelerator.locator('option:checked')).toHaveText('not set');
    await expect(accelerator.locator('option')).toHaveText([
      'not set',
      ...props.accelerator_type.enum.filter((t: string | null) => t !== null)
    ]);
    const shown = await dialog
      .locator('.jp-SwanML-resources input, .jp-SwanML-resources select')
      .evaluateAll(els => els.map(e => e.id.replace(/^swan-resources_/, '')));
    expect(shown).toEqual(Object.keys(props));
    expect(shown).toContain('accelerator_type');
    await expect(dialog.getByLabel('Minimum GPU capability', { exact: true })).toHaveCount(0);
    await expect(dialog.getByLabel('Minimum GPU memory (MB)', { exact: true })).toHaveCount(0);
    await expect(dialog.getByLabel('Disk (MB)', { exact: true })).toHaveCount(0);
    await expect(dialog.getByText(/GPUs free/)).toHaveCount(0);
    await expect(dialog.getByLabel('x (int)', { exact: true })).toHaveValue('1');
    await dialog.getByLabel('CPUs', { exact: true }).fill('2');
    await dialog.getByLabel('Memory (MB)', { exact: true }).fill('3000');
    await dialog.getByLabel('x (int)', { exact: true }).fill('21');
    // kfp.local rewrites "python3" in arguments: a value containing it must arrive untouched
    await dialog.getByLabel('label (str)', { exact: true }).fill('python3-word');
    await dialog.getByLabel('Job name', { exact: true }).fill(name);
    await page.screenshot({ path: `${SHOTS}/13-dialog-kubeflow.png` });

    // the compiled KFP pipeline, following the form; nothing is submitted
    const before = await jobCount(page);
    const toggle = dialog.getByRole('button', { name: 'Preview' });
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-expanded', 'true');
    const preview = dialog.getByLabel('Preview', { exact: true }).and(dialog.locator('pre'));
    await expect(preview).toContainText(/^pipelineInfo:$/m, { timeout: 30000 });
    await expect(preview).toContainText(/^ {2}name: swan-ml-/m);
    await expect(preview).toContainText(/^ +resourceCpuLimit: '2'$/m);
    await expect(preview).toContainText(/^ +resourceMemoryLimit: 3000Mi$/m);
    await expect(
      dialog.getByText(/kfp-pipeline-yaml: what Kubeflow Pipelines would get/)
    ).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/14-preview-kubeflow.png` });
    // a GPU of a chosen accelerator type becomes the task's accelerator
    await dialog.getByLabel('GPUs', { exact: true }).fill('1');
    await accelerator.selectOption({ label: String(props.accelerator_type.enum[0]) });
    await expect(preview).toContainText(
      `resourceType: ${props.accelerator_type.enum[0]}`
    );
    await expect(preview).toContainText(/^ +resourceCount: '1'$/m);
    await preview.evaluate(pre => {
      const lines = (pre.textContent ?? '').split('\n');
      const at = lines.findIndex(l => l.trim() === 'accelerator:');
      pre.scrollTop = (pre.scrollHeight / lines.length) * Math.max(at - 3, 0);
    });
    await page.screenshot({ path: `${SHOTS}/14b-preview-kubeflow-gpu.png` });
    // this machine has no GPUs to give kfp.local: back to none before submitting
    await dialog.getByLabel('GPUs', { exact: true }).fill('0');
    await accelerator.selectOption({ label: 'not set' });
    await expect(preview).not.toContainText('accelerator:');
    expect(await jobCount(page)).toBe(before);

    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
    const newest = (await (await page.request.get('/swan-ml-ext/jobs?limit=1')).json()).jobs[0];
    expect(newest.name).toBe(name);
    expect(newest.backend).toBe('kubeflow');
    expect(newest.parameters).toEqual({ x: 21, label: 'python3-word' });
    expect(newest.resources).toMatchObject({ cpus: 2, memory_mb: 3000 });

    // followed in the sidebar: running with its cell progress, then completed
    const jobs = page.getByRole('list', { name: 'Jobs' });
    await jobs.getByRole('listitem', { name: new RegExp(`^${name} `) }).click();
    const detail = page.locator('.jp-SwanML-detail');
    await expect(detail.locator('.jp-SwanML-badge')).toHaveText('running', { timeout: 60000 });
    await expect(detail.getByRole('progressbar', { name: /^cell \d+ of \d+$/ })).toBeVisible({
      timeout: 60000
    });
    await page.screenshot({ path: `${SHOTS}/15-job-view-kubeflow-running.png` });
    await expect(detail.locator('.jp-SwanML-badge')).toHaveText('completed', { timeout: 120000 });
    await expect(detail.locator('progress')).toHaveCount(0);
    const field = (name: string) =>
      detail.locator('dt', { hasText: name }).locator('xpath=following-sibling::dd[1]');
    await expect(field('Backend')).toHaveText('Kubeflow Pipelines');
    await expect(field('Resources')).toContainText('CPUs 2 · Memory 3000 MB');
    // the engine reference through the backend's labels: the kfp.local run, embedded
    await expect(field('Engine')).toHaveText(/^run \S+ mode embedded$/);
    await expect(field('Parameters')).toContainText('python3-word');
    const log = page.getByLabel('Log tail');
    await expect(log).toContainText('twice: 42');
    await expect(log).toContainText(/Running pipeline: 'swan-ml-/); // no colour codes
    expect(await log.textContent()).not.toContain('\u001b');
    await page.screenshot({ path: `${SHOTS}/16-job-view-kubeflow-completed.png` });
    await page.getByRole('button', { name: '← All jobs' }).click();
    await expect(jobs.getByRole('listitem', { name: `${name} completed` })).toBeVisible();
    await jobs.getByRole('listitem', { name: `${name} completed` }).click();

    // the executed notebook: the parameters' effect
    await detail.getByRole('button', { name: 'Open result' }).click();
    await expect(page.getByRole('tab', { name: /kfp\.ipynb/ }).nth(1)).toBeVisible();
    await expect(page.locator('.jp-OutputArea-output').getByText('twice: 42')).toBeVisible();
    await expect(
      page.locator('.jp-OutputArea-output').getByText('label: python3-word')
    ).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/17-result-kubeflow.png` });
  });

  test('an invalid value shows an inline error and submits nothing', async ({
    page,
    tmpPath
  }) => {
    await page.notebook.openByPath(`${tmpPath}/sweep.ipynb`);
    const before = await jobCount(page);
    await openRunOnBatch(page);
    const dialog = page.getByRole('dialog');
    // a parameter is checked when Submit is pressed
    await dialog.getByLabel('x (int)', { exact: true }).fill('forty');
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(dialog.getByRole('alert').filter({ hasText: 'x must be an integer' })).toBeVisible();
    // resources are checked as they are typed, against the backend's resource schema;
    // the dialog's Submit is disabled while a field is out of its bounds
    await dialog.getByLabel('CPUs', { exact: true }).fill('0');
    await dialog.getByLabel('Memory (MB)', { exact: true }).fill('999999999');
    await expect(dialog.getByRole('alert').filter({ hasText: 'CPUs must be at least 1' })).toBeVisible();
    await expect(dialog.getByRole('alert').filter({ hasText: /^Memory must be at most \d+$/ })).toBeVisible();
    await expect(dialog.getByLabel('CPUs', { exact: true })).toHaveAttribute('aria-invalid', 'true');
    await expect(dialog.getByRole('button', { name: 'Submit job' })).toBeDisabled();
    await page.screenshot({ path: `${SHOTS}/6-invalid.png` });
    // a rule across fields that only the server checks: its 4xx message, the dialog stays open
    await dialog.getByLabel('CPUs', { exact: true }).fill('1');
    await dialog.getByLabel('Memory (MB)', { exact: true }).fill('256');
    await dialog.getByLabel('x (int)', { exact: true }).fill('40');
    await dialog.getByLabel('Minimum GPU memory (MB)', { exact: true }).fill('8000');
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await expect(dialog.getByRole('alert').filter({ hasText: /GPU/ })).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/6b-server-refused.png` });
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
    const detail = page.locator('.jp-SwanML-detail');
    // the backend's capabilities decide the actions; its labels show the engine reference
    const published = await (await page.request.get('/swan-ml-ext/backends')).json();
    const backend = published.backends.find((b: any) => b.name === published.default_backend);
    const engine = detail.locator('dt', { hasText: 'Engine' }).locator('xpath=following-sibling::dd[1]');
    await expect(engine).toHaveText(new RegExp(`^${backend.engine_ref_labels[0].label} \\d+`));
    if (backend.capabilities.hold) {
      await expect(detail.getByRole('button', { name: 'Hold' })).toBeVisible();
    } else {
      await expect(detail.getByRole('button', { name: 'Hold' })).toHaveCount(0);
    }
    await page.screenshot({ path: `${SHOTS}/7-job-view.png` });
    await detail.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.locator('.jp-SwanML-detail .jp-SwanML-badge')).toHaveText(
      'cancelled'
    );
    await page.screenshot({ path: `${SHOTS}/8-cancelled.png` });
    await page.getByRole('button', { name: '← All jobs' }).click();
    await expect(jobs.getByRole('listitem', { name: 'to cancel cancelled' })).toBeVisible();
  });
});
