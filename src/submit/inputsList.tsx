/**
 * The submit dialog's "Files sent with the job": what the server found named in the
 * notebook's code, pre-filled and editable (remove, add back, add from the file browser or by
 * path), with the total size; what is read in place on a shared filesystem, listed apart.
 */
import * as React from 'react';

import { IBackend } from '../api';

import {
  arrivesAs,
  fileCount,
  folderOf,
  humanBytes,
  IInputRow,
  InputsModel
} from './inputs';

/** Whether a root-relative path lies in the notebook's folder. */
function isInside(notebook: string, path: string): boolean {
  const dir = folderOf(notebook);
  return !dir || path.startsWith(`${dir}/`);
}

/** "12 KB · 3 files", "at least 1.2 GB · 10,001 files", "1.5 KB". */
export function describeSize(row: {
  kind?: string;
  bytes?: number;
  files?: number;
  approx?: boolean;
}): string {
  if (row.bytes === undefined) {
    return '';
  }
  const size = `${row.approx ? 'at least ' : ''}${humanBytes(row.bytes)}`;
  return row.kind === 'folder'
    ? `${size} · ${fileCount(row.files ?? 0)}`
    : size;
}

const SOURCES: Record<string, string> = {
  added: 'added',
  job: 'from the job',
  suggested: 'it was missing'
};

function Row(props: {
  row: IInputRow;
  notebook: string;
  onRemove: () => void;
  onRestore: () => void;
}): JSX.Element {
  const { row, notebook } = props;
  const slash = row.kind === 'folder' ? '/' : '';
  const shown = `${row.path}${slash}`;
  const where = `${arrivesAs(notebook, row.path)}${slash}`;
  // Inside the notebook's folder: shown as the notebook reads it (data/); else its path
  // from the root, and the name it arrives by.
  const inside = isInside(notebook, row.path);
  const origin =
    row.source === 'detected'
      ? row.cell
        ? `cell ${row.cell}`
        : 'found in the code'
      : SOURCES[row.source];
  return (
    <li
      className={
        'jp-SwanInputs-row' +
        (row.removed ? ' jp-mod-removed' : '') +
        (row.problem ? ' jp-mod-problem' : '') +
        (row.coveredBy ? ' jp-mod-covered' : '')
      }
      aria-label={shown}
    >
      <span
        className="jp-SwanInputs-path"
        title={`${shown}: the job reads it as ${where}`}
      >
        {/* one left-to-right run: a long path is cut at its start (see inputs.css) */}
        <bdi dir="ltr">
          {inside ? where : shown}
          {!inside && <span className="jp-SwanInputs-arrives"> → {where}</span>}
        </bdi>
      </span>
      <span className="jp-SwanInputs-size">
        {row.removed
          ? 'not sent'
          : row.coveredBy
            ? `sent with ${arrivesAs(notebook, row.coveredBy)}/`
            : row.pending
              ? 'looking…'
              : row.problem
                ? ''
                : describeSize(row)}
      </span>
      <span className="jp-SwanInputs-origin">{origin}</span>
      {row.removed ? (
        <button
          type="button"
          className="jp-mod-styled jp-SwanInputs-button"
          aria-label={`Add back ${shown}`}
          onClick={props.onRestore}
        >
          Add back
        </button>
      ) : (
        <button
          type="button"
          className="jp-mod-styled jp-SwanInputs-button"
          aria-label={`Remove ${shown}`}
          title="Do not send it with the job"
          onClick={props.onRemove}
        >
          Remove
        </button>
      )}
      {row.problem && !row.removed && (
        <span className="jp-SwanInputs-problem">not sent: {row.problem}</span>
      )}
    </li>
  );
}

/** The "Add…" box: a path (with the notebook folder's files offered), or the file browser's selection. */
function AddBox(props: {
  model: InputsModel;
  onClose: () => void;
}): JSX.Element {
  const { model } = props;
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [offered, setOffered] = React.useState<string[]>([]);
  const input = React.useRef<HTMLInputElement>(null);
  const add = async (path: string) => {
    setBusy(true);
    const why = await model.addTyped(path);
    setBusy(false);
    setError(why);
    if (!why) {
      setText('');
    }
  };
  // Enter in the path adds it. The dialog takes Enter in its capture phase (to Submit):
  // this listener, on the window, comes first.
  React.useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = input.current;
      if (e.key === 'Enter' && el && e.target === el) {
        e.preventDefault();
        e.stopPropagation();
        if (el.value.trim()) {
          void add(el.value);
        }
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [model]);
  const selected = (model.selection?.() ?? []).filter(
    p => p && p !== model.notebook
  );
  React.useEffect(() => {
    let live = true;
    void model.files
      ?.list(folderOf(model.notebook))
      .then(
        paths => live && setOffered(paths.filter(p => p !== model.notebook))
      )
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [model]);
  const addSelection = async () => {
    setBusy(true);
    await model.addSelection();
    setBusy(false);
    props.onClose();
  };
  return (
    <div className="jp-SwanInputs-add" role="group" aria-label="Add inputs">
      <div className="jp-SwanInputs-addRow">
        <input
          className="jp-mod-styled"
          aria-label="Path to add"
          aria-invalid={!!error}
          aria-describedby={error ? 'swan-inputs-add-error' : undefined}
          list="swan-inputs-offered"
          placeholder={`a file or folder, relative to the server root (e.g. ${
            folderOf(model.notebook) ? `${folderOf(model.notebook)}/` : ''
          }data)`}
          value={text}
          ref={input}
          autoFocus
          onChange={e => {
            setText(e.target.value);
            setError('');
          }}
        />
        <datalist id="swan-inputs-offered">
          {offered.map(p => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || !text.trim()}
          onClick={() => void add(text)}
        >
          Add
        </button>
        <button type="button" className="jp-mod-styled" onClick={props.onClose}>
          Done
        </button>
      </div>
      {error && (
        <span
          id="swan-inputs-add-error"
          className="jp-SwanML-error"
          role="alert"
        >
          {error}
        </span>
      )}
      {model.selection && (
        <button
          type="button"
          className="jp-mod-styled jp-SwanInputs-selection"
          disabled={busy || !selected.length}
          title={
            selected.length
              ? selected.join(', ')
              : 'Select files or folders in the file browser first'
          }
          onClick={() => void addSelection()}
        >
          {selected.length
            ? `Add the file browser's selection (${selected.join(', ')})`
            : "Add the file browser's selection (nothing selected)"}
        </button>
      )}
    </div>
  );
}

/**
 * The dialog section; re-renders when the model changes. `backend`: the chosen backend when
 * it sends no input files (the list is kept for another backend, but not sent).
 */
export function InputsSection(props: {
  model: InputsModel;
  backend?: IBackend | null;
}): JSX.Element {
  const { model, backend } = props;
  const [, setTick] = React.useState(0);
  const [adding, setAdding] = React.useState(false);
  React.useEffect(() => {
    const redraw = () => setTick(t => t + 1);
    model.changed.connect(redraw);
    return () => {
      model.changed.disconnect(redraw);
    };
  }, [model]);
  const rows = model.rows;
  const inPlace = model.inPlace;
  const total = model.total();
  const sent = model.paths().length;
  return (
    <fieldset
      id="swan-inputs"
      className="jp-SwanInputs"
      aria-label="Files sent with the job"
    >
      <legend>Files sent with the job</legend>
      {backend && (
        <p className="jp-SwanInputs-note jp-mod-warn" role="note">
          {`${backend.title || backend.name} sends no input files: only the notebook ` +
            'travels. Read data from a shared filesystem, or choose a backend that sends files.'}
        </p>
      )}
      {rows.length > 0 && folderOf(model.notebook) && (
        <span className="jp-SwanML-hint">
          {`As the notebook reads them, from its folder ${folderOf(model.notebook)}/`}
        </span>
      )}
      {rows.length > 0 ? (
        <ul className="jp-SwanInputs-list" aria-label="Inputs">
          {rows.map(r => (
            <Row
              key={r.path}
              row={r}
              notebook={model.notebook}
              onRemove={() => model.remove(r.path)}
              onRestore={() => model.restore(r.path)}
            />
          ))}
        </ul>
      ) : (
        <p className="jp-SwanML-hint">
          {model.detectedKnown
            ? 'The notebook’s code names no file of the workspace: only the notebook is sent.'
            : 'Only the notebook is sent.'}
        </p>
      )}
      <div className="jp-SwanInputs-foot">
        <span className="jp-SwanInputs-total" aria-label="Total sent">
          {sent && !backend
            ? `Total: ${total.approx ? 'at least ' : ''}${humanBytes(
                total.bytes
              )} in ${fileCount(total.files)}`
            : 'Total: nothing but the notebook'}
        </span>
        {!adding && (
          <button
            type="button"
            className="jp-mod-styled jp-SwanInputs-button"
            onClick={() => setAdding(true)}
          >
            Add…
          </button>
        )}
      </div>
      {adding && <AddBox model={model} onClose={() => setAdding(false)} />}
      {inPlace.length > 0 && (
        <div className="jp-SwanInputs-inPlace">
          <span className="jp-SwanML-hint">
            Read in place (shared filesystem), not sent:
          </span>
          <ul aria-label="Read in place">
            {inPlace.map(d => (
              <li key={d.path} aria-label={d.path}>
                <code>{d.path}</code>
                {d.cell ? (
                  <span className="jp-SwanInputs-origin"> cell {d.cell}</span>
                ) : null}
                {d.problem && (
                  <span className="jp-SwanInputs-problem">{d.problem}</span>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </fieldset>
  );
}

/** A job's inputs for its view: "ana/data, cfg.yaml", or what travelled when there are none. */
export function formatInputs(job: { inputs?: string[] }): string {
  const inputs = job.inputs ?? [];
  return inputs.length ? inputs.join(', ') : 'none (only the notebook)';
}

/**
 * Why entries were added (a resubmitted job lacked them), at the top of the dialog where it
 * is seen at once; "Show" scrolls to the list.
 */
export function InputsNotes(props: { model: InputsModel }): JSX.Element | null {
  const { notes } = props.model;
  if (!notes.length) {
    return null;
  }
  return (
    <div className="jp-SwanInputs-notes" role="note" aria-label="Inputs added">
      {notes.map(n => (
        <p key={n} className="jp-SwanInputs-note">
          {n}
        </p>
      ))}
      <button
        type="button"
        className="jp-SwanML-link"
        aria-controls="swan-inputs"
        onClick={e =>
          e.currentTarget
            .closest('form')
            ?.querySelector('#swan-inputs')
            ?.scrollIntoView?.({ block: 'center' })
        }
      >
        Show the files sent
      </button>
    </div>
  );
}
