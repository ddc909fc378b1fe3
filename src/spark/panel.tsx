import { ReactWidget } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import * as React from 'react';

import type { ISparkJob, ISparkSession } from './api';
import { ConnectBox } from './connect';
import { Executors } from './executors';
import { JobsByCell, Stages, TaskBar } from './jobs';
import type { ISparkNotebooks } from './notebooks';
import type { ISparkModel, SparkPart } from './tokens';

/** What the panel asks of Lab. */
export interface ISparkPanelActions {
  openUI(session: ISparkSession): void;
}

/** Keep parts of a session current while a component shows them. */
function useWatch(
  model: ISparkModel,
  id: string,
  parts: readonly SparkPart[]
): void {
  const key = parts.join(',');
  React.useEffect(() => {
    if (!parts.length) {
      return;
    }
    const handle = model.watch(id, parts);
    return () => handle.dispose();
  }, [model, id, key]);
}

/** Where a session runs: its notebook (when open), its kernel or its batch job. */
export function sessionOrigin(
  session: ISparkSession,
  notebooks: ISparkNotebooks | null
): string {
  if (session.source === 'job') {
    return `batch job ${session.job_id ?? ''}`.trim();
  }
  const path = session.kernel_id
    ? notebooks?.pathOfKernel(session.kernel_id)
    : null;
  return path ?? `kernel ${(session.kernel_id ?? '').slice(0, 8)}`;
}

function Toggle(props: {
  open: boolean;
  label: string;
  testid: string;
  onToggle: () => void;
}): JSX.Element {
  return (
    <button
      className="jp-SwanSpark-toggle"
      data-testid={props.testid}
      aria-expanded={props.open}
      onClick={props.onToggle}
    >
      {props.open ? '▾' : '▸'} {props.label}
    </button>
  );
}

function SessionCard(props: {
  model: ISparkModel;
  session: ISparkSession;
  notebooks: ISparkNotebooks | null;
  actions: ISparkPanelActions;
  /** Whether the panel is shown: a hidden panel watches nothing. */
  visible: boolean;
}): JSX.Element {
  const { model, session, notebooks } = props;
  const active = session.state === 'active';
  const [showJobs, setShowJobs] = React.useState(active);
  const [showStages, setShowStages] = React.useState(false);
  const [showExecutors, setShowExecutors] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const parts: SparkPart[] = [];
  if (showJobs) {
    parts.push('jobs');
  }
  if (showStages) {
    parts.push('stages');
  }
  if (showExecutors) {
    parts.push('executors');
  }
  useWatch(model, session.id, props.visible ? parts : []);
  const details = model.details(session.id);
  const act = (what: Promise<void>) => {
    setError(null);
    what.catch(reason => setError(reason?.message ?? String(reason)));
  };
  const kill = (job: ISparkJob) => act(model.kill(session.id, job.job_id));
  const cellLabel = (cellId: string) =>
    session.kernel_id && notebooks
      ? notebooks.cellLabel(session.kernel_id, cellId)
      : null;
  const s = session.summary;
  const origin = sessionOrigin(session, notebooks);
  return (
    <li
      className={`jp-SwanSpark-session jp-SwanSpark-session-${session.state}`}
      data-testid="spark-session"
      data-session-id={session.id}
      data-state={session.state}
      aria-label={`Spark session ${session.profile} ${session.state}`}
    >
      <div className="jp-SwanSpark-session-head">
        <span className="jp-SwanSpark-profile">{session.profile}</span>
        <span className={`jp-SwanSpark-kind jp-SwanSpark-kind-${session.kind}`}>
          {session.kind === 'connect' ? 'Connect' : 'classic'}
        </span>
        <span
          className={`jp-SwanSpark-status jp-SwanSpark-status-${session.state}`}
        >
          {session.state}
        </span>
      </div>
      <dl className="jp-SwanSpark-facts">
        <dt>Runs in</dt>
        <dd
          className="jp-SwanSpark-path"
          data-testid="spark-session-origin"
          title={origin}
        >
          <bdi>{origin}</bdi>
        </dd>
        <dt>Application</dt>
        <dd title={session.app_name}>{session.app_id ?? '—'}</dd>
        <dt>Master</dt>
        <dd>{session.master}</dd>
      </dl>
      {active && s && s.tasks_total > 0 && (
        <TaskBar
          label={`Session ${session.profile} tasks`}
          progress={{
            total: s.tasks_total,
            done: s.tasks_done,
            active: s.tasks_active,
            failed: 0,
            killed: 0
          }}
        />
      )}
      <div className="jp-SwanSpark-actions">
        <button
          data-testid="spark-open-ui"
          onClick={() => props.actions.openUI(session)}
          disabled={!active}
          title="Open the Spark UI in a Lab tab"
        >
          Spark UI
        </button>
        {active && (
          <button
            data-testid="spark-stop"
            onClick={() => act(model.stop(session.id))}
            title="Stop this Spark session"
          >
            Stop
          </button>
        )}
      </div>
      {(error || details?.error) && (
        <p className="jp-SwanSpark-error" role="alert">
          {error ?? details?.error}
        </p>
      )}
      <Toggle
        open={showJobs}
        testid="spark-toggle-jobs"
        label={`Jobs (${s?.jobs_running ?? 0} running of ${s?.jobs_total ?? 0})`}
        onToggle={() => setShowJobs(!showJobs)}
      />
      {showJobs && (
        <JobsByCell details={details} cellLabel={cellLabel} onKill={kill} />
      )}
      <Toggle
        open={showStages}
        testid="spark-toggle-stages"
        label="Stages"
        onToggle={() => setShowStages(!showStages)}
      />
      {showStages && <Stages stages={details?.stages} />}
      <Toggle
        open={showExecutors}
        testid="spark-toggle-executors"
        label="Executors"
        onToggle={() => setShowExecutors(!showExecutors)}
      />
      {showExecutors && <Executors executors={details?.executors} />}
    </li>
  );
}

/** The one Spark sidebar: Connect for the active notebook, then every session. */
export class SparkPanel extends ReactWidget {
  constructor(
    readonly model: ISparkModel,
    readonly notebooks: ISparkNotebooks | null,
    readonly actions: ISparkPanelActions
  ) {
    super();
    this.addClass('jp-SwanSpark-panel');
    this.node.dataset.testid = 'spark-panel';
    model.changed.connect(this._changed, this);
    notebooks?.changed.connect(this._changed, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._changed, this);
    this.notebooks?.changed.disconnect(this._changed, this);
    super.dispose();
  }

  /** Whether the ended sessions are listed (below the active ones). */
  showEnded = false;

  render(): JSX.Element {
    const { model, notebooks } = this;
    const newest = [...model.sessions].sort((a, b) =>
      b.registered_at.localeCompare(a.registered_at)
    );
    const active = newest.filter(s => s.state === 'active');
    const ended = newest.filter(s => s.state !== 'active');
    const card = (s: ISparkSession) => (
      <SessionCard
        key={s.id}
        model={model}
        session={s}
        notebooks={notebooks}
        actions={this.actions}
        visible={this.isVisible}
      />
    );
    return (
      <div className="jp-SwanSpark-body">
        <div className="jp-SwanSpark-header">
          <h2>Spark</h2>
        </div>
        <ConnectBox model={model} notebook={notebooks?.active() ?? null} />
        {model.serverError && (
          <p className="jp-SwanSpark-error" role="alert">
            swan-ml-ext server extension: {model.serverError}
          </p>
        )}
        <ul
          className="jp-SwanSpark-sessions"
          aria-label="Spark sessions"
          data-testid="spark-sessions"
        >
          {active.map(card)}
          {this.showEnded && ended.map(card)}
        </ul>
        {!active.length && !model.serverError && (
          <p className="jp-SwanSpark-empty">No active Spark session.</p>
        )}
        {ended.length > 0 && (
          <div className="jp-SwanSpark-ended">
            <Toggle
              open={this.showEnded}
              testid="spark-toggle-ended"
              label={`Ended sessions (${ended.length})`}
              onToggle={() => {
                this.showEnded = !this.showEnded;
                this.update();
              }}
            />
          </div>
        )}
      </div>
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }

  private _changed(): void {
    this.update();
  }
}
