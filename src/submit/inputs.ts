/**
 * What travels with the job besides the notebook: the files and folders the server found
 * named in the notebook's code (`detected_inputs` of jobs/check and jobs/preview), minus the
 * ones the user removed, plus the ones the user added (from the file browser, a typed path,
 * a resubmitted job's inputs, or what a failed job lacked). The request's `inputs`.
 */
import { Contents } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IDetectedInput } from '../api';

/** A file's or folder's size, as the workspace tells it. */
export interface IMeasured {
  kind: 'file' | 'folder';
  bytes: number;
  files: number;
  /** The folder was too large to count to its end: at least this much. */
  approx?: boolean;
}

/** Where the dialog learns about the workspace's files. */
export interface IInputFiles {
  /** Kind and size of a root-relative path; rejects when there is none. */
  measure(path: string): Promise<IMeasured>;
  /** The root-relative paths in a folder ('' for the root), folders ending in '/'. */
  list(folder: string): Promise<string[]>;
}

/** Where an entry of the list comes from. */
export type InputSource = 'detected' | 'added' | 'job' | 'suggested';

/** One entry of "Files sent with the job". */
export interface IInputRow {
  /** Root-relative, without a trailing '/'. */
  path: string;
  source: InputSource;
  kind?: 'file' | 'folder';
  bytes?: number;
  files?: number;
  approx?: boolean;
  /** The cell that names it (detected entries). */
  cell?: number;
  /** Why it is not sent (the server would refuse it, or it is not in the workspace). */
  problem?: string;
  /** A detected entry the user removed: shown, not sent. */
  removed?: boolean;
  /** Its size is being looked up. */
  pending?: boolean;
  /** The sent folder that holds it (then it is not sent by itself). */
  coveredBy?: string;
}

/** Folders are walked through the contents API up to these bounds (then "at least"). */
const MAX_LISTINGS = 200;
const MAX_FILES = 10000;

/** "12 KB", "1.5 GB", "300 bytes" (as the server writes sizes). */
export function humanBytes(n: number): string {
  const units: [string, number][] = [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024]
  ];
  for (const [unit, size] of units) {
    if (n >= size) {
      return `${(n / size).toFixed(1).replace(/\.0$/, '')} ${unit}`;
    }
  }
  return `${n} bytes`;
}

/** "1 file", "1,200 files". */
export function fileCount(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'file' : 'files'}`;
}

/** A path as the user may type it, root-relative: no './', no leading or trailing '/'. */
export function normalizePath(text: string): string {
  return text
    .trim()
    .replace(/\\/g, '/')
    .replace(/\/{2,}/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '')
    .split('/')
    .filter(part => part !== '.')
    .join('/');
}

/** The notebook's folder ('' at the root). */
export function folderOf(notebook: string): string {
  const i = notebook.lastIndexOf('/');
  return i < 0 ? '' : notebook.slice(0, i);
}

/**
 * Where an input arrives in the job's folder (which stands for the notebook's folder): one
 * inside the notebook's folder keeps its path relative to it, another arrives by its name.
 */
export function arrivesAs(notebook: string, path: string): string {
  const dir = folderOf(notebook);
  if (!dir) {
    return path;
  }
  return path.startsWith(`${dir}/`)
    ? path.slice(dir.length + 1)
    : path.split('/').pop()!;
}

/** The sent folder among `folders` that holds `path` (not `path` itself). */
function covering(folders: string[], path: string): string | undefined {
  return folders.find(f => path.startsWith(`${f}/`));
}

/** Files and folders through Jupyter's contents API (hidden files are not counted). */
export function contentsFiles(contents: Contents.IManager): IInputFiles {
  return {
    async measure(path: string): Promise<IMeasured> {
      const model = await contents.get(path, { content: false });
      if (model.type !== 'directory') {
        return { kind: 'file', bytes: model.size ?? 0, files: 1 };
      }
      const found: IMeasured = { kind: 'folder', bytes: 0, files: 0 };
      const queue = [model.path];
      for (let listings = 0; queue.length; listings++) {
        if (listings >= MAX_LISTINGS || found.files > MAX_FILES) {
          found.approx = true;
          break;
        }
        const dir = await contents.get(queue.shift()!, { content: true });
        for (const item of (dir.content ?? []) as Contents.IModel[]) {
          if (item.type === 'directory') {
            if (item.name !== '.ipynb_checkpoints') {
              queue.push(item.path);
            }
          } else {
            found.files++;
            found.bytes += item.size ?? 0;
          }
        }
      }
      return found;
    },
    async list(folder: string): Promise<string[]> {
      const dir = await contents.get(folder, { content: true });
      return ((dir.content ?? []) as Contents.IModel[])
        .filter(i => i.name !== '.ipynb_checkpoints')
        .map(i => (i.type === 'directory' ? `${i.path}/` : i.path));
    }
  };
}

/**
 * The list the dialog edits. Detected entries come (again) with each check or preview
 * answer: they are merged, and one the user removed stays removed.
 */
export class InputsModel {
  constructor(
    readonly notebook: string,
    files: IInputFiles | null = null
  ) {
    this._files = files;
  }

  /** Where sizes and listings come from; entries not measured yet are measured once set. */
  get files(): IInputFiles | null {
    return this._files;
  }
  set files(files: IInputFiles | null) {
    this._files = files;
    for (const a of this._added) {
      if (a.bytes === undefined && !a.problem) {
        void this._measure(a.path);
      }
    }
  }

  /** The file browser's selected paths (set by the plugin; null: no file browser). */
  selection: (() => string[]) | null = null;

  /** Lines saying why entries were added (a resubmitted job's missing files). */
  notes: string[] = [];

  /** Whether an answer with `detected_inputs` came. */
  get detectedKnown(): boolean {
    return this._detectedKnown;
  }

  /** Something shown changed; `sent` says whether the request's `inputs` did. */
  get changed(): ISignal<this, { sent: boolean }> {
    return this._changed;
  }

  /** Every entry but those read in place: detected ones first, in the server's order. */
  get rows(): IInputRow[] {
    const rows = [
      ...this._detected
        .filter(d => !d.in_place)
        .map((d): IInputRow => ({
          path: d.path,
          source: 'detected',
          kind: d.kind,
          bytes: d.bytes,
          files: d.files,
          cell: d.cell,
          problem: d.problem || undefined,
          removed: this._removed.has(d.path)
        })),
      ...this._added.filter(a => !this._isDetected(a.path))
    ];
    const folders = rows
      .filter(r => r.kind !== 'file' && !r.removed && !r.problem)
      .map(r => r.path);
    return rows.map(r => {
      const coveredBy = covering(folders, r.path);
      return coveredBy ? { ...r, coveredBy } : r;
    });
  }

  /** Detected paths under a shared filesystem: read there, never sent. */
  get inPlace(): IDetectedInput[] {
    return this._detected.filter(d => d.in_place);
  }

  /** The request's `inputs`: what is sent, each path once, none inside another. */
  paths(): string[] {
    return this.rows.filter(sent).map(r => r.path);
  }

  /** `inputs` of the request: undefined when only the notebook travels. */
  request(): string[] | undefined {
    const paths = this.paths();
    return paths.length ? paths : undefined;
  }

  /** The size of what is sent (approx: some size is not known or only a lower bound). */
  total(): { bytes: number; files: number; approx: boolean } {
    let bytes = 0;
    let files = 0;
    let approx = false;
    for (const r of this.rows.filter(sent)) {
      bytes += r.bytes ?? 0;
      files += r.files ?? 0;
      approx = approx || !!r.approx || r.bytes === undefined;
    }
    return { bytes, files, approx };
  }

  /** A check or preview answer's `detected_inputs` (undefined: the answer had none). */
  setDetected(list: IDetectedInput[] | undefined | null): void {
    if (!Array.isArray(list)) {
      return;
    }
    const before = this.paths().join('\n');
    const known = new Map(this._detected.map(d => [d.path, d]));
    for (const d of list) {
      known.set(normalizePath(d.path) || d.path, {
        ...d,
        path: normalizePath(d.path) || d.path
      });
    }
    // The notebook does not change while the dialog is open: what was found stays found
    // (a server that leaves out what the request already sends cannot make rows blink).
    this._detected = Array.from(known.values());
    this._detectedKnown = true;
    this._emit(before);
  }

  /** Take a detected entry out of the request (it stays listed as removed), or drop an added one. */
  remove(path: string): void {
    const before = this.paths().join('\n');
    if (this._isDetected(path)) {
      this._removed.add(path);
    }
    this._added = this._added.filter(a => a.path !== path);
    this._emit(before);
  }

  /** Send a removed detected entry again. */
  restore(path: string): void {
    const before = this.paths().join('\n');
    this._removed.delete(path);
    this._emit(before);
  }

  /**
   * Add a path typed by the user (root-relative; one relative to the notebook's folder is
   * found too). Resolves to '' once added, else to why not (nothing added).
   */
  async addTyped(text: string): Promise<string> {
    const path = normalizePath(text);
    const refused = this._refusal(text, path);
    if (refused) {
      return refused;
    }
    if (this._isDetected(path) || this._has(path)) {
      return this._addKnown(path);
    }
    let measured: IMeasured | null = null;
    let found = path;
    const files = this._files;
    if (files) {
      const dir = folderOf(this.notebook);
      const candidates =
        dir && !path.startsWith(`${dir}/`) ? [path, `${dir}/${path}`] : [path];
      for (const candidate of candidates) {
        measured = await files.measure(candidate).catch(() => null);
        if (measured) {
          found = candidate;
          break;
        }
      }
      if (!measured) {
        return `no file or folder '${path}' under the server root`;
      }
    }
    if (found !== path) {
      if (this._isDetected(found) || this._has(found)) {
        return this._addKnown(found);
      }
      const holder = covering(this.paths(), found);
      if (holder) {
        return `'${found}' is sent with '${holder}/' already`;
      }
    }
    const before = this.paths().join('\n');
    this._added.push({ path: found, source: 'added', ...measured });
    this._emit(before);
    return '';
  }

  /** Add the file browser's selection (all but the notebook itself). What was added. */
  async addSelection(): Promise<string[]> {
    const paths = (this.selection?.() ?? [])
      .map(normalizePath)
      .filter(p => p && p !== this.notebook);
    const added: string[] = [];
    for (const p of paths) {
      if (!(await this.addTyped(p))) {
        added.push(p);
      }
    }
    return added;
  }

  /**
   * Entries given up front (a resubmitted job's inputs; what a failed job lacked, with a
   * note saying so); their sizes are looked up in the background.
   */
  preset(
    paths: readonly string[] = [],
    suggested: readonly string[] = []
  ): void {
    const before = this.paths().join('\n');
    const add = (raw: string, source: InputSource) => {
      const path = normalizePath(raw);
      if (!path || path.startsWith('/') || this._has(path)) {
        return false;
      }
      this._added.push({ path, source, pending: !!this._files });
      void this._measure(path);
      return true;
    };
    paths.forEach(p => add(p, 'job'));
    for (const raw of suggested) {
      const path = normalizePath(raw);
      if (path && (add(path, 'suggested') || this._has(path))) {
        this.notes.push(
          `added: ${arrivesAs(this.notebook, path)} — the job failed because it was missing`
        );
      }
    }
    this._emit(before);
  }

  private async _measure(path: string): Promise<void> {
    const files = this._files;
    if (!files) {
      return;
    }
    this._added = this._added.map(a =>
      a.path === path ? { ...a, pending: true } : a
    );
    let change: Partial<IInputRow>;
    try {
      change = { ...(await files.measure(path)), pending: false };
    } catch {
      change = { pending: false, problem: 'not in the workspace now' };
    }
    const before = this.paths().join('\n');
    this._added = this._added.map(a =>
      a.path === path ? { ...a, ...change } : a
    );
    this._emit(before);
  }

  private _addKnown(path: string): string {
    if (this._removed.has(path)) {
      this.restore(path);
      return '';
    }
    return `'${path}' is in the list already`;
  }

  private _refusal(text: string, path: string): string {
    if (!path) {
      return 'type a path relative to the server root';
    }
    if (text.trim().startsWith('/') || text.trim().startsWith('~')) {
      return (
        'type a path relative to the server root (absolute paths on a shared ' +
        'filesystem are read in place, never sent)'
      );
    }
    if (path.split('/').includes('..')) {
      return "type a path inside the server root (no '..')";
    }
    if (path === this.notebook) {
      return 'the notebook itself always travels';
    }
    const holder = covering(this.paths(), path);
    return holder ? `'${path}' is sent with '${holder}/' already` : '';
  }

  private _isDetected(path: string): boolean {
    return this._detected.some(d => d.path === path && !d.in_place);
  }

  private _has(path: string): boolean {
    return this._added.some(a => a.path === path) || this._isDetected(path);
  }

  private _emit(before: string): void {
    this._changed.emit({ sent: this.paths().join('\n') !== before });
  }

  private _files: IInputFiles | null;
  private _detected: IDetectedInput[] = [];
  private _detectedKnown = false;
  private _removed = new Set<string>();
  private _added: IInputRow[] = [];
  private _changed = new Signal<this, { sent: boolean }>(this);
}

/** Whether a row goes into the request. */
function sent(r: IInputRow): boolean {
  return !r.removed && !r.problem && !r.coveredBy;
}
