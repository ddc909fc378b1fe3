import * as React from 'react';

import { ISweepGroup } from './group';
import { StateChip, SweepProgressBar } from './progress';
import { progressText, sweepProgress } from './table';

/**
 * A sweep in the job monitor: one row (its points are not listed one by one) with a bar of
 * points done / failed / total; a click opens its results view.
 */
export function SweepRow(props: {
  sweep: ISweepGroup;
  onOpen: (id: string) => void;
  /** Where the list places the row (the monitor's list is virtual). */
  style?: React.CSSProperties;
}): JSX.Element {
  const { sweep } = props;
  const text = progressText(sweepProgress(sweep.counts));
  return (
    <li
      className="jp-SwanML-row-item jp-SwanSweep-row"
      style={props.style}
      role="listitem"
      aria-label={`${sweep.name} sweep ${sweep.state}`}
      data-sweep-id={sweep.id}
    >
      <button
        className="jp-SwanML-row-button"
        onClick={() => props.onOpen(sweep.id)}
        title={`Sweep of ${sweep.notebook}: ${text}. Open its results.`}
      >
        <span className="jp-SwanML-row-top">
          <span className="jp-SwanML-row-name">{sweep.name}</span>
          <span className="jp-SwanSweep-tag">sweep</span>
          <StateChip state={sweep.state} />
        </span>
        <span className="jp-SwanML-row-bottom">
          <span>{sweep.backend}</span>
          <SweepProgressBar
            counts={sweep.counts}
            className="jp-SwanSweep-rowBar"
          />
          <span className="jp-SwanML-row-message">{text}</span>
        </span>
      </button>
    </li>
  );
}
