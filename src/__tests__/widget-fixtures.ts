/**
 * The extension's widgets as the specs open them: a launched submit dialog (and how soon it
 * checks the pool fit), and a job monitor whose actions are spies.
 */
import { Dialog } from '@jupyterlab/apputils';

import { IJob } from '../api';
import { JobsModel } from '../model';
import { IMonitorActions, JobMonitor } from '../monitor/panel';
import { SubmitDialog, SubmitForm } from '../submit/dialog';
import { KnownSweeps } from '../sweep/api';
import { IJobsModel } from '../tokens';
import { rendered } from './testutils';

export interface IOpenedDialog {
  form: SubmitForm;
  dialog: SubmitDialog;
  model: JobsModel;
  node: HTMLElement;
  /** The launch's promise: it rejects when the dialog is disposed (handled: no warning). */
  result: Promise<Dialog.IResult<IJob | null>>;
}

/** `form` in a launched submit dialog over `model` (default: a new one), rendered. */
export async function openDialog(
  form: SubmitForm,
  options?: SubmitDialog.IOptions,
  model: JobsModel = new JobsModel()
): Promise<IOpenedDialog> {
  const dialog = new SubmitDialog(form, model, options);
  const result = dialog.launch();
  result.catch(() => undefined);
  const node = await rendered(form);
  return { form, dialog, model, node, result };
}

/** A job monitor over `model` whose actions are spies (`actions` adds or replaces some). */
export function monitorOf(
  model: IJobsModel,
  actions: Partial<IMonitorActions> = {},
  sweeps?: KnownSweeps
): JobMonitor {
  return new JobMonitor(
    model,
    { open: jest.fn(), resubmit: jest.fn(), notify: jest.fn(), ...actions },
    sweeps
  );
}

/** In the calling describe block, the dialog checks the pool fit `ms` after an edit. */
export function checkDelay(ms: number): void {
  let before = SubmitForm.checkDelay;
  beforeAll(() => {
    before = SubmitForm.checkDelay;
    SubmitForm.checkDelay = ms;
  });
  afterAll(() => {
    SubmitForm.checkDelay = before;
  });
}
