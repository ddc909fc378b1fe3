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
import { IJobsModel, PLUGIN_ID } from '../tokens';
import { SweepAPI, sweepOf } from './api';
import { groupActive, groupSweeps, ISweepGroup } from './group';
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
 * One notification when a sweep's last point ends (instead of one per point), with a link to
 * its results; the same `notifications` setting as the jobs' turns it off.
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
    const notify = (sweep: ISweepGroup) => {
      const text = `Sweep "${sweep.name}" ended: ${progressText(
        sweepProgress(sweep.counts)
      )}.`;
      const actions = [
        {
          label: 'Open results',
          callback: () =>
            void app.commands.execute(SweepCommandIDs.open, { id: sweep.id })
        }
      ];
      if (sweep.state === 'completed') {
        Notification.success(text, { actions, autoClose: 8000 });
      } else {
        Notification.warning(text, { actions, autoClose: false });
      }
    };
    jobs.jobChanged.connect((_, { job, previous }) => {
      const ref = sweepOf(job);
      if (
        !enabled ||
        !ref ||
        !previous ||
        FINAL_STATES.has(previous) ||
        !FINAL_STATES.has(job.state) ||
        job.state === 'cancelled' // the user cancelled: nothing to tell
      ) {
        return;
      }
      const points = jobs.jobs.filter(j => sweepOf(j)?.id === ref.id);
      const [item] = groupSweeps(points);
      if (item?.kind === 'sweep' && !groupActive(item.sweep)) {
        notify(item.sweep);
      }
    });
  }
};

export const sweepPlugins: JupyterFrontEndPlugin<any>[] = [
  sweepResultsPlugin,
  sweepNotificationsPlugin
];
