import * as React from 'react';

import { percent } from '../gpu/format';
import { ISweepCounts } from './api';
import { ISweepProgress, progressText, sweepProgress } from './table';

/** A state as a chip (the job monitor's badges: same colours for the same states). */
export function StateChip(props: { state: string }): JSX.Element {
  return (
    <span
      className={`jp-SwanML-badge jp-SwanML-badge-${props.state}`}
      data-state={props.state}
    >
      {props.state}
    </span>
  );
}

/** Points done / failed / total as one bar: done (green), failed (red), the rest empty. */
export function SweepProgressBar(props: {
  counts: ISweepCounts;
  className?: string;
}): JSX.Element {
  const p: ISweepProgress = sweepProgress(props.counts);
  const text = progressText(p);
  return (
    <div
      className={`jp-SwanSweep-bar ${props.className ?? ''}`}
      role="progressbar"
      aria-label={`Points: ${text}`}
      aria-valuemin={0}
      aria-valuemax={p.total}
      aria-valuenow={p.done + p.failed}
      aria-valuetext={text}
      title={text}
    >
      <span
        className="jp-SwanSweep-bar-done"
        style={{ width: `${percent(p.done, p.total)}%` }}
      />
      <span
        className="jp-SwanSweep-bar-failed"
        style={{ width: `${percent(p.failed, p.total)}%` }}
      />
    </div>
  );
}
