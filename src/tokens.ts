import { Token } from '@lumino/coreutils';

import type { JobsModel } from './model';

/**
 * The one token of swan-ml-ext: the jobs model shared by the submit dialog, the job
 * monitor and the notifications. Another extension can provide its own.
 */
export const IJobsModel = new Token<JobsModel>(
  'swan-ml-ext:IJobsModel',
  'The swan-ml-ext jobs model: jobs of every backend, kept up to date.'
);

export const PLUGIN_ID = 'swan-ml-ext:plugin';

export namespace CommandIDs {
  export const runOnBatch = 'swan-ml-ext:run-on-batch';
  export const openMonitor = 'swan-ml-ext:open-monitor';
}

/** The event schema the server emits on every job state change. */
export const EVENT_SCHEMA_ID =
  'https://events.jupyter.org/swan_ml_ext/job_state/v1';
