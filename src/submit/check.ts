/**
 * Could the pool ever run the job the dialog describes? `POST jobs/check` (the body of POST
 * jobs; nothing is submitted), asked as the user edits, once the typing pauses.
 */
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IJobCheck, IJobRequest, requestAPI } from '../api';

/** Ask the server whether a request could run (the dialog's default checker). */
export function checkJob(
  request: IJobRequest,
  settings: ServerConnection.ISettings
): Promise<IJobCheck> {
  return requestAPI<IJobCheck>(
    'jobs/check',
    { method: 'POST', body: JSON.stringify(request) },
    settings
  );
}

/** What the dialog shows about the current values. */
export interface IFitState {
  /** The last answer for the values as they were when asked (null: none yet, or stale). */
  answer: IJobCheck | null;
  /** The server would refuse these values (its 4xx message); '' when it would not. */
  refused: string;
  /** An answer is on its way. */
  busy: boolean;
}

/**
 * Asks `check` for the latest request after `delay` ms without a new one; an answer to an
 * older request is dropped. A server that cannot check (no such route, not reachable) leaves
 * nothing shown: the check is advice, submitting does not depend on it.
 */
export class FitChecker {
  constructor(
    readonly check: (request: IJobRequest) => Promise<IJobCheck>,
    readonly delay = 400
  ) {}

  get state(): IFitState {
    return this._state;
  }

  /** The state changed (an answer came, a request went out, the values became invalid). */
  get changed(): ISignal<this, IFitState> {
    return this._changed;
  }

  /** Whether the last answer says no machine can run the job. */
  get infeasible(): boolean {
    return this._state.answer?.feasible === false;
  }

  /**
   * The values changed: check this request once the typing pauses; null (values the form
   * itself finds invalid) clears what is shown and asks nothing.
   */
  schedule(request: IJobRequest | null): void {
    window.clearTimeout(this._timer);
    const seq = ++this._seq;
    if (!request) {
      this._set({ answer: null, refused: '', busy: false });
      return;
    }
    if (!this._state.busy) {
      this._set({ ...this._state, busy: true });
    }
    this._timer = window.setTimeout(
      () => void this._ask(request, seq),
      this.delay
    );
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    this._seq++;
    Signal.clearData(this);
  }

  private async _ask(request: IJobRequest, seq: number): Promise<void> {
    let next: IFitState;
    try {
      const answer = await this.check(request);
      next = { answer: answer ?? null, refused: '', busy: false };
    } catch (reason: any) {
      const status: number | undefined = reason?.response?.status;
      const refused =
        status !== undefined && status >= 400 && status < 500 && status !== 404
          ? (reason?.message ?? String(reason))
          : '';
      if (!refused) {
        console.warn('swan-ml-ext: could not check the job', reason);
      }
      next = { answer: null, refused, busy: false };
    }
    if (seq === this._seq) {
      this._set(next);
    }
  }

  private _set(state: IFitState): void {
    this._state = state;
    this._changed.emit(state);
  }

  private _state: IFitState = { answer: null, refused: '', busy: false };
  private _changed = new Signal<this, IFitState>(this);
  private _seq = 0;
  private _timer = 0;
}

/**
 * The dialog's Submit reads "Submit anyway" (warning style) while the check says no machine
 * can run the job: the server still takes it (it would wait), the user decides.
 */
export function labelSubmit(dialog: HTMLElement, infeasible: boolean): void {
  const button = dialog.querySelector('.jp-Dialog-button.jp-mod-accept');
  const label = button?.querySelector('.jp-Dialog-buttonLabel');
  if (!button || !label) {
    return;
  }
  button.classList.toggle('jp-mod-warn', infeasible);
  label.textContent = infeasible ? 'Submit anyway' : 'Submit';
  label.setAttribute(
    'aria-label',
    infeasible ? 'Submit job anyway' : 'Submit job'
  );
}
