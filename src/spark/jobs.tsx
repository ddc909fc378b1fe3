import * as React from 'react';

import type { ISparkJob, ISparkStage } from './api';
import {
  ICellJobs,
  ITaskProgress,
  groupByCell,
  jobProgress,
  percentDone
} from './progress';
import type { ISparkDetails } from './tokens';

/** Tasks as a bar: done, then active, then failed; the numbers beside it. */
export function TaskBar(props: {
  progress: ITaskProgress;
  label: string;
}): JSX.Element {
  const { total, done, active, failed, killed, skipped } = props.progress;
  const width = (n: number) => `${total > 0 ? (100 * n) / total : 0}%`;
  const pct = percentDone(props.progress);
  return (
    <div className="jp-SwanSpark-taskbar" data-testid="spark-taskbar">
      <div
        className="jp-SwanSpark-bar"
        role="progressbar"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        title={`${done}/${total} tasks done, ${active} active, ${failed} failed`}
      >
        <span
          className="jp-SwanSpark-bar-done"
          style={{ width: width(done) }}
        />
        <span
          className="jp-SwanSpark-bar-active"
          style={{ width: width(active) }}
        />
        <span
          className="jp-SwanSpark-bar-failed"
          style={{ width: width(failed) }}
        />
      </div>
      <span className="jp-SwanSpark-tasks">
        {done}/{total}
        {active > 0 && ` · ${active} active`}
        {failed > 0 && ` · ${failed} failed`}
        {killed > 0 && ` · ${killed} killed`}
        {!!skipped && ` (${skipped} skipped)`}
      </span>
    </div>
  );
}

function JobRow(props: {
  job: ISparkJob;
  onKill: (job: ISparkJob) => void;
}): JSX.Element {
  const { job } = props;
  const running = job.status === 'RUNNING';
  return (
    <li
      className={`jp-SwanSpark-job jp-SwanSpark-job-${job.status.toLowerCase()}`}
      data-testid="spark-job"
      data-job-id={job.job_id}
      data-status={job.status}
    >
      <div className="jp-SwanSpark-job-head">
        <span className="jp-SwanSpark-job-id">#{job.job_id}</span>
        <span className="jp-SwanSpark-job-name" title={job.description}>
          {job.name || job.description}
        </span>
        <span
          className={`jp-SwanSpark-status jp-SwanSpark-status-${job.status.toLowerCase()}`}
        >
          {job.status.toLowerCase()}
        </span>
        {running && (
          <button
            className="jp-SwanSpark-kill"
            data-testid="spark-kill"
            aria-label={`Kill job ${job.job_id}`}
            title="Kill this Spark job"
            onClick={() => props.onKill(job)}
          >
            Kill
          </button>
        )}
      </div>
      <TaskBar progress={jobProgress(job)} label={`Job ${job.job_id} tasks`} />
    </li>
  );
}

function CellGroup(props: {
  group: ICellJobs;
  label: string;
  onKill: (job: ISparkJob) => void;
}): JSX.Element {
  const { group } = props;
  const state = group.running ? 'running' : group.failed ? 'failed' : 'done';
  return (
    <section
      className="jp-SwanSpark-cell"
      data-testid="spark-cell-group"
      data-cell-id={group.cellId ?? ''}
      data-state={state}
      aria-label={`Spark jobs of ${props.label}`}
    >
      <h4 className="jp-SwanSpark-cell-head">
        <span className="jp-SwanSpark-cell-label" title={group.cellId ?? ''}>
          {props.label}
        </span>
        <span className="jp-SwanSpark-count">
          {group.jobs.length} {group.jobs.length === 1 ? 'job' : 'jobs'}
          {group.running > 0 && `, ${group.running} running`}
        </span>
      </h4>
      <ul className="jp-SwanSpark-jobs">
        {group.jobs.map(job => (
          <JobRow key={job.job_id} job={job} onKill={props.onKill} />
        ))}
      </ul>
    </section>
  );
}

/** A session's jobs grouped by the cell that started them. */
export function JobsByCell(props: {
  details: ISparkDetails | undefined;
  cellLabel: (cellId: string) => string | null;
  onKill: (job: ISparkJob) => void;
}): JSX.Element {
  const groups = groupByCell(props.details);
  if (!props.details?.jobs) {
    return <p className="jp-SwanSpark-empty">Loading jobs…</p>;
  }
  if (!groups.length) {
    return <p className="jp-SwanSpark-empty">No Spark jobs yet.</p>;
  }
  return (
    <div className="jp-SwanSpark-cells">
      {groups.map(g => (
        <CellGroup
          key={g.cellId ?? ''}
          group={g}
          label={
            g.cellId === null
              ? 'Not from a cell'
              : (props.cellLabel(g.cellId) ?? `cell ${g.cellId}`)
          }
          onKill={props.onKill}
        />
      ))}
    </div>
  );
}

/** A session's stages, newest first. */
export function Stages(props: {
  stages: ISparkStage[] | undefined;
}): JSX.Element {
  if (!props.stages) {
    return <p className="jp-SwanSpark-empty">Loading stages…</p>;
  }
  if (!props.stages.length) {
    return <p className="jp-SwanSpark-empty">No stages yet.</p>;
  }
  const stages = [...props.stages].sort(
    (a, b) => b.stage_id - a.stage_id || b.attempt_id - a.attempt_id
  );
  return (
    <ul className="jp-SwanSpark-stages" data-testid="spark-stages">
      {stages.map(s => (
        <li
          key={`${s.stage_id}.${s.attempt_id}`}
          className="jp-SwanSpark-stage"
          data-testid="spark-stage"
          data-status={s.status}
        >
          <div className="jp-SwanSpark-job-head">
            <span className="jp-SwanSpark-job-id">
              {s.stage_id}
              {s.attempt_id > 0 && `.${s.attempt_id}`}
            </span>
            <span className="jp-SwanSpark-job-name" title={s.name}>
              {s.name}
            </span>
            <span
              className={`jp-SwanSpark-status jp-SwanSpark-status-${s.status.toLowerCase()}`}
            >
              {s.status.toLowerCase()}
            </span>
          </div>
          <TaskBar
            label={`Stage ${s.stage_id} tasks`}
            progress={{
              total: s.num_tasks,
              done: s.num_complete_tasks,
              active: s.num_active_tasks,
              failed: s.num_failed_tasks,
              killed: 0
            }}
          />
        </li>
      ))}
    </ul>
  );
}
