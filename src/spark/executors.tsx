import * as React from 'react';

import type { ISparkExecutor } from './api';
import { formatBytes } from './progress';

function resourcesText(
  resources: Record<string, string[]> | undefined
): string {
  const entries = Object.entries(resources ?? {}).filter(([, a]) => a?.length);
  return entries.length
    ? entries
        .map(([name, addresses]) => `${name} ${addresses.join(',')}`)
        .join('; ')
    : '—';
}

/** A session's executors: cores, memory, tasks and resources (GPU addresses). */
export function Executors(props: {
  executors: ISparkExecutor[] | undefined;
}): JSX.Element {
  if (!props.executors) {
    return <p className="jp-SwanSpark-empty">Loading executors…</p>;
  }
  if (!props.executors.length) {
    return <p className="jp-SwanSpark-empty">No executors.</p>;
  }
  return (
    <table className="jp-SwanSpark-executors" data-testid="spark-executors">
      <thead>
        <tr>
          <th>Executor</th>
          <th>Cores</th>
          <th>Memory</th>
          <th>Tasks</th>
          <th>Resources</th>
        </tr>
      </thead>
      <tbody>
        {props.executors.map(e => (
          <tr
            key={e.id}
            data-testid="spark-executor"
            data-executor-id={e.id}
            className={e.is_active ? '' : 'jp-SwanSpark-inactive'}
          >
            <td title={e.host_port}>{e.id}</td>
            <td>{e.total_cores}</td>
            <td>{formatBytes(e.max_memory)}</td>
            <td title={`${e.completed_tasks} completed`}>
              {e.active_tasks} / {e.completed_tasks}
            </td>
            <td data-testid="spark-executor-resources">
              {resourcesText(e.resources)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
