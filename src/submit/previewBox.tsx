/**
 * The submit form's Preview: what submitting the current values would hand to the engine
 * (`POST jobs/preview`; nothing is submitted), asked again as the values change while shown.
 */
import * as React from 'react';

import { IBackend, IJobPreview, IJobRequest } from '../api';

/** What the preview needs from its form. */
export interface IPreviewHost {
  /** The request of the current values, checked like a submission (null when wrong). */
  check(): IJobRequest | null;
  /** Render again. */
  update(): void;
  /** Milliseconds after a change before an open preview is asked again. */
  delay(): number;
  /** The server answered: its refusal ('' on success) is shown where a submission's is. */
  answered(preview: IJobPreview | null, error: string): void;
}

/**
 * The preview's state: shown or not, the last preview of the values, an answer on its way.
 * An answer to values that changed since (or to a preview closed since) is dropped.
 */
export class FormPreview {
  constructor(private readonly host: IPreviewHost) {}

  /** Asks the server for a preview; without it the form offers none. */
  previewer: ((request: IJobRequest) => Promise<IJobPreview>) | null = null;
  /** Whether the preview is shown. */
  open = false;
  /** The preview of the current values (null while none could be made). */
  preview: IJobPreview | null = null;
  busy = false;

  /** Show or hide the preview; shown, it follows the form's values. */
  toggle(): Promise<void> {
    this.open = !this.open;
    window.clearTimeout(this._timer);
    if (!this.open) {
      this._seq++; // an answer on its way is not shown any more
      this.busy = false;
      this.host.update();
      return Promise.resolve();
    }
    this._reveal = true;
    return this.refresh();
  }

  /**
   * Ask the server for the preview of the current values (checked by the form first, like a
   * submission).
   */
  async refresh(): Promise<void> {
    const previewer = this.previewer;
    const request = this.host.check();
    const seq = ++this._seq;
    if (!previewer || !request) {
      this.preview = null;
      this.busy = false;
      this.host.update();
      return;
    }
    this.busy = true;
    this.host.update();
    try {
      const preview = await previewer(request);
      if (seq === this._seq) {
        this.preview = preview;
        this.host.answered(preview, '');
      }
    } catch (reason: any) {
      if (seq === this._seq) {
        this.preview = null;
        this.host.answered(null, reason?.message ?? String(reason));
      }
    } finally {
      if (seq === this._seq) {
        this.busy = false;
        this.host.update();
      }
    }
  }

  /** A value changed: an open preview follows once the typing pauses. */
  follow(): void {
    if (!this.open) {
      return;
    }
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(
      () => void this.refresh(),
      this.host.delay()
    );
  }

  /**
   * Scroll the dialog to the preview the first time it has text after being opened (not
   * when it follows an edit: the field being edited stays in view).
   */
  reveal(el: HTMLElement | null): void {
    if (el && this._reveal && this.preview) {
      this._reveal = false;
      el.scrollIntoView?.({ block: 'nearest' });
    }
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    this._seq++;
  }

  private _reveal = false;
  private _seq = 0;
  private _timer = 0;
}

/** The Preview disclosure: what would be handed to the engine, monospace, scrollable. */
export function PreviewBox(props: {
  state: FormPreview;
  backend: IBackend | undefined;
}): JSX.Element {
  const { state, backend } = props;
  const { open, preview, busy } = state;
  return (
    <div className="jp-SwanML-previewBox">
      <button
        type="button"
        className="jp-mod-styled jp-SwanML-previewToggle"
        aria-expanded={open}
        aria-controls="swan-preview"
        title="What submitting would hand to the engine; nothing is submitted"
        onClick={() => void state.toggle()}
      >
        <span aria-hidden="true">{open ? '▾ ' : '▸ '}</span>
        Preview
      </button>
      {open && preview && (
        <span className="jp-SwanML-hint">
          {` ${preview.format}: what ${backend?.title || preview.backend} would get` +
            (preview.existing_job
              ? ` (submitting returns job ${preview.existing_job} instead)`
              : '')}
        </span>
      )}
      {open && (preview || busy) && (
        <pre
          id="swan-preview"
          ref={el => state.reveal(el)}
          className="jp-SwanML-preview"
          aria-label="Preview"
          aria-busy={busy}
          tabIndex={0}
        >
          {preview?.text ?? 'Loading the preview…'}
        </pre>
      )}
      {open && !preview && !busy && (
        <span id="swan-preview" className="jp-SwanML-hint">
          No preview for these values: see what is wrong.
        </span>
      )}
    </div>
  );
}
