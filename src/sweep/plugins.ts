import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { FINAL_STATES } from '../api';
import { batchIcon } from '../icons';
import { IJobChange, IJobsModel, PLUGIN_ID } from '../tokens';
import { FINAL_SWEEP_STATES, ISweepSummary, SweepAPI, sweepOf } from './api';
import { groupActive, groupSweeps } from './group';
import { SweepModel } from './model';
import { SweepView } from './results';
import { progressText, sweepProgress } from './table';

export namespace SweepCommandIDs {
  /** Args `{id}`: the results view of that sweep (one tab per sweep). */
  export const open = 'swan-ml-ext:open-sweep';
}

const NAMESPACE = 'swan-ml-ext-sweep';

function tabId(id: string): string {
  return `${NAMESPACE}-${id}`;
}

/**
 * Asks `GET sweeps` (once per batch of sweeps it has not heard of) when the jobs list shows
 * points of a sweep the server has said nothing about yet: the monitor's sweep rows then
 * carry the server's name and state (a job does not tell whether its sweep was cancelled).
 * Returns what stops it.
 */
export function learnSweeps(
  jobs: IJobsModel,
  api: SweepAPI,
  delay = 500
): () => void {
  const asked = new Set<string>();
  let timer = 0;
  const look = () => {
    let unknown = false;
    for (const job of jobs.jobs) {
      const ref = sweepOf(job);
      if (ref && !asked.has(ref.id) && !api.known.get(ref.id)) {
        asked.add(ref.id);
        unknown = true;
      }
    }
    if (unknown && !timer) {
      timer = window.setTimeout(() => {
        timer = 0;
        void api.list(100).catch(reason => {
          console.warn('swan-ml-ext: could not list sweeps', reason);
        });
      }, delay);
    }
  };
  jobs.changed.connect(look);
  look();
  return () => {
    jobs.changed.disconnect(look);
    window.clearTimeout(timer);
  };
}

/** The results view of a sweep, opened by `swan-ml-ext:open-sweep {id}`. */
export const sweepResultsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:sweep-results',
  description:
    'Results of a parameter sweep: progress, a sortable table, a chart, cancel and resubmit.',
  autoStart: true,
  requires: [IJobsModel],
  optional: [IRenderMimeRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    jobs: IJobsModel,
    rendermime: IRenderMimeRegistry | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const api = new SweepAPI(app.serviceManager.serverSettings);
    const tracker = new WidgetTracker<MainAreaWidget<SweepView>>({
      namespace: NAMESPACE
    });
    const find = (id: string) => tracker.find(w => w.content.model.id === id);
    const actions = {
      open: (path: string) =>
        void app.commands.execute('docmanager:open', { path }),
      notify: (message: string) => Notification.error(message)
    };

    app.commands.addCommand(SweepCommandIDs.open, {
      label: 'Open sweep results',
      caption: 'The results table and chart of a parameter sweep',
      execute: args => {
        const id = args.id;
        if (typeof id !== 'string' || !id) {
          return;
        }
        let tab = find(id);
        if (!tab) {
          const model = new SweepModel({ api, id });
          const view = new SweepView(model, rendermime, actions);
          tab = new MainAreaWidget({ content: view });
          tab.id = tabId(id);
          tab.title.label = `Sweep ${id}`;
          tab.title.icon = batchIcon;
          tab.title.closable = true;
          const named = tab;
          model.changed.connect(() => {
            const sweep = model.sweep;
            if (sweep) {
              named.title.label = `Sweep: ${sweep.name}`;
              named.title.caption = `${sweep.notebook} (${sweep.state})`;
            }
          });
          void tracker.add(tab);
          app.shell.add(tab, 'main');
          void model.start().catch(reason => {
            console.warn(`swan-ml-ext: could not load sweep ${id}`, reason);
          });
        }
        app.shell.activateById(tab.id);
        return tab;
      }
    });

    restorer?.restore(tracker, {
      command: SweepCommandIDs.open,
      args: w => ({ id: w.content.model.id }),
      name: w => w.content.model.id
    });

    learnSweeps(jobs, api);

    // A point changed: its sweep's open view loads at once instead of at its next poll.
    jobs.jobChanged.connect((_, { job }) => {
      const ref = sweepOf(job);
      if (ref) {
        find(ref.id)?.content.model.refreshSoon();
      }
    });
  }
};

/**
 * When the last point of a sweep the jobs list knows ends, asks the server about the sweep
 * (`GET sweeps/{id}`: the list may not hold every point, and only the server knows whether the
 * user cancelled it) and calls `ended` with its answer once it is final — once per end (a
 * resubmission ends again). Returns what stops it.
 */
export function followSweepEnds(
  jobs: IJobsModel,
  api: SweepAPI,
  ended: (sweep: ISweepSummary) => void
): () => void {
  const asking = new Set<string>();
  const told = new Map<string, string>();
  const ask = async (id: string) => {
    asking.add(id);
    try {
      const sweep = await api.get(id);
      const end = `${sweep.finished_at}:${JSON.stringify(sweep.counts)}`;
      if (FINAL_SWEEP_STATES.has(sweep.state) && told.get(id) !== end) {
        told.set(id, end);
        ended(sweep);
      }
    } catch (reason) {
      console.warn(`swan-ml-ext: could not load sweep ${id}`, reason);
    } finally {
      asking.delete(id);
    }
  };
  const changed = (_: IJobsModel, { job, previous }: IJobChange) => {
    // A point that ended, or one first seen ended (it ran between two looks; the first
    // load of the list tells no changes).
    const ref = sweepOf(job);
    if (
      !ref ||
      (previous && FINAL_STATES.has(previous)) ||
      !FINAL_STATES.has(job.state) ||
      asking.has(ref.id)
    ) {
      return;
    }
    const points = jobs.jobs.filter(j => sweepOf(j)?.id === ref.id);
    const [item] = groupSweeps(points, api.known);
    if (item?.kind === 'sweep' && !groupActive(item.sweep)) {
      void ask(ref.id);
    }
  };
  jobs.jobChanged.connect(changed);
  return () => jobs.jobChanged.disconnect(changed);
}

/**
 * One notification when a sweep ends (instead of one per point), with its state and counts
 * as the server tells them and a link to its results; none for a sweep the user cancelled.
 * The same `notifications` setting as the jobs' turns it off.
 */
export const sweepNotificationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:sweep-notifications',
  description: 'Notifies once when every point of a sweep has ended.',
  autoStart: true,
  requires: [IJobsModel],
  optional: [ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    jobs: IJobsModel,
    settings: ISettingRegistry | null
  ): void => {
    let enabled = true;
    if (settings) {
      void settings.load(PLUGIN_ID).then(s => {
        const read = () => {
          enabled = s.get('notifications').composite !== false;
        };
        read();
        s.changed.connect(read);
      });
    }
    const api = new SweepAPI(app.serviceManager.serverSettings);
    // Asked even with notifications off: the answer also states the monitor's sweep row.
    followSweepEnds(jobs, api, sweep => {
      if (enabled && sweep.state !== 'cancelled') {
        notifySweepEnd(sweep, id =>
          app.commands.execute(SweepCommandIDs.open, { id })
        );
      }
    });
  }
};

/** "Sweep "train" ended: 5 of 6 done, 1 failed." with an Open results action. */
export function notifySweepEnd(
  sweep: ISweepSummary,
  open: (id: string) => unknown
): void {
  const text = `Sweep "${sweep.name}" ended: ${progressText(
    sweepProgress(sweep.counts)
  )}.`;
  const actions = [
    { label: 'Open results', callback: () => void open(sweep.id) }
  ];
  if (sweep.state === 'completed') {
    Notification.success(text, { actions, autoClose: 8000 });
  } else {
    Notification.warning(text, { actions, autoClose: false });
  }
}

export const sweepPlugins: JupyterFrontEndPlugin<any>[] = [
  sweepResultsPlugin,
  sweepNotificationsPlugin
];
