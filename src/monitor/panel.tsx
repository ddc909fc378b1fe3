import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  FINAL_STATES,
  IBackendCapabilities,
  IEngineRefLabel,
  IJob,
  JobState
} from '../api';
import { IJobFilter, jobDuration } from '../model';
import { formatResources } from '../resources';
import { formatInputs } from '../submit/inputsList';
import { KnownSweeps, knownSweeps } from '../sweep/api';
import {
  filterItems,
  groupSweeps,
  JOB_STATES,
  MonitorItem
} from '../sweep/group';
import { StateChip } from '../sweep/progress';
import { SweepRow } from '../sweep/sweepRow';
import { IJobsModel, JobAction } from '../tokens';

export interface IMonitorActions {
  open(path: string): void;
  resubmit(job: IJob): void;
  notify(message: string): void;
  /** Open a sweep's results view (a sweep's points show as one row). */
  openSweep?(id: string): void;
}

/** Three lines: name and state; backend, duration, progress; why it waits / failed. */
const ROW_HEIGHT = 64;
const OVERSCAN = 8;

/** What a job's backend can do (nothing while the backend is unknown). */
function capabilitiesOf(model: IJobsModel, job: IJob): IBackendCapabilities {
  return model.backend(job.backend)?.capabilities ?? {};
}

/** Cell progress, where the job's backend reports it. */
function Progress(props: {
  job: IJob;
  capabilities: IBackendCapabilities;
}): JSX.Element | null {
  const { job } = props;
  const { cells_done = 0, cells_total = 0 } = job.progress ?? {};
  if (!props.capabilities.progress || !cells_total || job.state !== 'running') {
    return null;
  }
  return (
    <progress
      className="jp-SwanML-progress"
      max={cells_total}
      value={cells_done}
      aria-label={`cell ${cells_done} of ${cells_total}`}
      title={`cell ${cells_done}/${cells_total}`}
    />
  );
}

function Row(props: {
  job: IJob;
  capabilities: IBackendCapabilities;
  top: number;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { job } = props;
  return (
    <li
      className="jp-SwanML-row-item"
      style={{ top: props.top, height: ROW_HEIGHT }}
      role="listitem"
      aria-label={`${job.name} ${job.state}`}
    >
      <button
        className="jp-SwanML-row-button"
        onClick={() => props.onSelect(job.id)}
        title={job.message || job.notebook}
      >
        <span className="jp-SwanML-row-top">
          <span className="jp-SwanML-row-name">{job.name}</span>
          <StateChip state={job.state} />
        </span>
        <span className="jp-SwanML-row-bottom">
          <span>{job.backend}</span>
          <span>{jobDuration(job)}</span>
          <Progress job={job} capabilities={props.capabilities} />
        </span>
        {job.state !== 'running' && job.message && (
          <span className={`jp-SwanML-row-message jp-mod-${job.state}`}>
            {job.message}
          </span>
        )}
      </button>
    </li>
  );
}

/** Only the rows in view are in the DOM: thousands of jobs stay smooth. */
function VirtualList(props: {
  model: IJobsModel;
  items: MonitorItem[];
  onSelect: (id: string) => void;
  onOpenSweep: (id: string) => void;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [height, setHeight] = React.useState(600);
  React.useEffect(() => {
    const el = ref.current;
    if (!el) {
      return;
    }
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(
    props.items.length,
    Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN
  );
  return (
    <div
      ref={ref}
      className="jp-SwanML-list"
      onScroll={e => setScrollTop((e.target as HTMLDivElement).scrollTop)}
    >
      <ul
        role="list"
        aria-label="Jobs"
        style={{ height: props.items.length * ROW_HEIGHT }}
      >
        {props.items
          .slice(first, last)
          .map((item, i) =>
            item.kind === 'sweep' ? (
              <SweepRow
                key={`sweep-${item.sweep.id}`}
                sweep={item.sweep}
                style={{ top: (first + i) * ROW_HEIGHT, height: ROW_HEIGHT }}
                onOpen={props.onOpenSweep}
              />
            ) : (
              <Row
                key={item.job.id}
                job={item.job}
                capabilities={capabilitiesOf(props.model, item.job)}
                top={(first + i) * ROW_HEIGHT}
                onSelect={props.onSelect}
              />
            )
          )}
      </ul>
    </div>
  );
}

/**
 * Terminal control sequences (colours, cursor moves, window titles) that some engines write
 * to their logs: kfp.local colours its lines, tracebacks are coloured. A <pre> would show
 * them as stray characters.
 */
const ESC = '\\u001b';
const BEL = '\\u0007';
const TERMINAL_CODES = new RegExp(
  `${ESC}(?:\\[[0-?]*[ -/]*[@-~]|\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)|[@-Z\\\\-_])`,
  'g'
);

/** A log as plain text. */
export function plainLog(text: string): string {
  return text.replace(TERMINAL_CODES, '');
}

/**
 * The job's log: followed while it runs where its backend has live logs, else read once
 * the job has finished.
 */
function LogTail(props: {
  model: IJobsModel;
  job: IJob;
  live: boolean;
}): JSX.Element {
  const [text, setText] = React.useState('');
  const active = !FINAL_STATES.has(props.job.state);
  const follow = active && props.live;
  React.useEffect(() => {
    if (active && !props.live) {
      setText('');
      return;
    }
    let stopped = false;
    const load = () =>
      props.model
        .logs(props.job.id, 200)
        .then(l => !stopped && setText(plainLog(l.stdout + l.stderr)))
        .catch(reason => !stopped && setText(`logs unavailable: ${reason}`));
    void load();
    const timer = follow ? setInterval(load, 2000) : undefined;
    return () => {
      stopped = true;
      if (timer) {
        clearInterval(timer);
      }
    };
  }, [props.job.id, active, props.live]);
  // A tail: keep its end in view as it grows, unless the user scrolled up to read.
  const pre = React.useRef<HTMLPreElement>(null);
  const atEnd = React.useRef(true);
  React.useLayoutEffect(() => {
    const node = pre.current;
    if (node && atEnd.current) {
      node.scrollTop = node.scrollHeight;
    }
  }, [text]);
  const empty = !active
    ? 'no output'
    : props.live
      ? 'no output yet'
      : 'The log is shown once the job has finished.';
  return (
    <pre
      className="jp-SwanML-logs"
      aria-label="Log tail"
      tabIndex={0}
      ref={pre}
      onScroll={e => {
        const n = e.currentTarget;
        atEnd.current = n.scrollHeight - n.scrollTop - n.clientHeight < 8;
      }}
    >
      {text || empty}
    </pre>
  );
}

export function formatParameters(job: IJob): string {
  const entries = Object.entries(job.parameters ?? {});
  return entries.length
    ? entries.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ')
    : 'none';
}

/**
 * A job's engine reference through its backend's labels: `label value` in the labels'
 * order, joined by spaces; keys without a label, and empty values, are not shown.
 */
export function formatEngine(
  job: IJob,
  labels: readonly IEngineRefLabel[] = []
): string {
  const ref = job.engine_ref ?? {};
  const parts: string[] = [];
  for (const { key, label } of labels) {
    const value = ref[key];
    if (!label || value === undefined || value === null || value === '') {
      continue;
    }
    const text = Array.isArray(value)
      ? value.join(',')
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
    parts.push(`${label} ${text}`);
  }
  return parts.join(' ') || '—';
}

/**
 * List pages leave out fields that can be large (see `truncated`): the job's view loads the
 * whole job once.
 */
function useWholeJob(model: IJobsModel, job: IJob): IJob {
  const [whole, setWhole] = React.useState<IJob | null>(null);
  const truncated = (job.truncated ?? []).join(',');
  React.useEffect(() => {
    if (!truncated) {
      return;
    }
    let live = true;
    model
      .fetchJob(job.id)
      .then(j => live && setWhole(j))
      .catch(reason => console.warn('swan-ml-ext: could not load job', reason));
    return () => {
      live = false;
    };
  }, [job.id, truncated]);
  return whole && truncated
    ? { ...job, parameters: whole.parameters, outputs: whole.outputs }
    : job;
}

function Detail(props: {
  model: IJobsModel;
  job: IJob;
  actions: IMonitorActions;
  onBack: () => void;
}): JSX.Element {
  const { model, actions } = props;
  const job = useWholeJob(model, props.job);
  const backend = model.backend(job.backend);
  const can = backend?.capabilities ?? {};
  const act = (action: JobAction) =>
    model
      .act(job.id, action)
      .catch(reason => actions.notify(reason?.message ?? String(reason)));
  const active = !FINAL_STATES.has(job.state);
  const rows: [string, string][] = [
    ['State', job.state],
    ['Notebook', job.notebook],
    ['Backend', backend?.title || job.backend],
    ['Environment', job.environment],
    ['Duration', jobDuration(job)],
    ['Created', new Date(job.created_at).toLocaleString()],
    ['Resources', formatResources(job.resources, backend?.resource_schema)],
    ['Parameters', formatParameters(job)],
    ['Inputs', formatInputs(job)],
    ['Engine', formatEngine(job, backend?.engine_ref_labels)]
  ];
  return (
    <div className="jp-SwanML-detail" aria-label={`Job ${job.name}`}>
      <div className="jp-SwanML-detail-head">
        <button className="jp-SwanML-link" onClick={props.onBack}>
          ← All jobs
        </button>
        <h3>{job.name}</h3>
        <StateChip state={job.state} />
      </div>
      <Progress job={job} capabilities={can} />
      {job.message && (
        <p className="jp-SwanML-message" role="status">
          {job.message}
        </p>
      )}
      <div className="jp-SwanML-actions">
        {active && can.cancel && (
          <button onClick={() => act('cancel')}>Cancel</button>
        )}
        {(job.state === 'pending' || job.state === 'running') && can.hold && (
          <button onClick={() => act('hold')}>Hold</button>
        )}
        {job.state === 'held' && can.release && (
          <button onClick={() => act('release')}>Release</button>
        )}
        {job.outputs?.notebook && (
          <button onClick={() => actions.open(job.outputs.notebook!)}>
            Open result
          </button>
        )}
        <button onClick={() => actions.open(job.notebook)}>
          Open original
        </button>
        <button onClick={() => actions.resubmit(job)}>Resubmit…</button>
      </div>
      <dl className="jp-SwanML-fields">
        {rows.map(([k, v]) => (
          <React.Fragment key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </React.Fragment>
        ))}
      </dl>
      <h4>Log</h4>
      <LogTail model={model} job={job} live={!!can.live_logs} />
    </div>
  );
}

/** "3 of 5 jobs", or "… jobs and sweeps" once a sweep is a row of its own. */
export function countText(
  shown: readonly MonitorItem[],
  all: readonly MonitorItem[]
): string {
  const sweeps = all.some(i => i.kind === 'sweep');
  return `${shown.length} of ${all.length} ${sweeps ? 'jobs and sweeps' : 'jobs'}`;
}

/**
 * The left-panel job monitor: every job of every backend, newest first, a sweep's points as
 * one row (stated with what the server said last about the sweep, `sweeps`).
 */
export class JobMonitor extends ReactWidget {
  constructor(
    readonly model: IJobsModel,
    readonly actions: IMonitorActions,
    readonly sweeps: KnownSweeps = knownSweeps
  ) {
    super();
    this.addClass('jp-SwanML-monitor');
    sweeps.changed.connect(this._onSweeps, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.sweeps.changed.disconnect(this._onSweeps, this);
    super.dispose();
  }

  filter: IJobFilter = { state: '', backend: '', text: '' };
  selected: string | null = null;

  select(id: string | null): void {
    this.selected = id;
    this.update();
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>{() => this._render()}</UseSignal>
    );
  }

  private _render(): JSX.Element {
    const model = this.model;
    const job = this.selected ? model.job(this.selected) : undefined;
    if (job) {
      return (
        <Detail
          model={model}
          job={job}
          actions={this.actions}
          onBack={() => this.select(null)}
        />
      );
    }
    // Group every job first: a sweep's counts and newest attempts need all its points.
    const all = groupSweeps(model.jobs, this.sweeps);
    const items = filterItems(all, this.filter);
    const backends = model.backends?.backends ?? [];
    const setFilter = (f: Partial<IJobFilter>) => {
      this.filter = { ...this.filter, ...f };
      this.update();
    };
    return (
      <div className="jp-SwanML-panel">
        <div className="jp-SwanML-header">
          <h2>Batch jobs</h2>
          <input
            type="search"
            className="jp-mod-styled"
            placeholder="Search jobs"
            aria-label="Search jobs"
            value={this.filter.text}
            onChange={e => setFilter({ text: e.target.value })}
          />
          <div className="jp-SwanML-filters">
            <select
              aria-label="Filter by state"
              className="jp-mod-styled"
              value={this.filter.state}
              onChange={e => setFilter({ state: e.target.value as JobState })}
            >
              <option value="">all states</option>
              {JOB_STATES.map(s => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
            <select
              aria-label="Filter by backend"
              className="jp-mod-styled"
              value={this.filter.backend}
              onChange={e => setFilter({ backend: e.target.value })}
            >
              <option value="">all backends</option>
              {backends.map(b => (
                <option key={b.name} value={b.name}>
                  {b.title || b.name}
                </option>
              ))}
            </select>
          </div>
          <span className="jp-SwanML-count" aria-live="polite">
            {countText(items, all)}
          </span>
        </div>
        {model.serverError && (
          <p className="jp-SwanML-error" role="alert">
            swan-ml-ext server extension: {model.serverError}
          </p>
        )}
        <VirtualList
          model={model}
          items={items}
          onSelect={id => this.select(id)}
          onOpenSweep={id => this.actions.openSweep?.(id)}
        />
      </div>
    );
  }

  private _onSweeps(): void {
    this.update();
  }
}
