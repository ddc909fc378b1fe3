import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { IStatusBar } from '@jupyterlab/statusbar';

import { FINAL_STATES, IJob, IResources } from './api';
import { GpuModel } from './gpu/model';
import { registerGpuStatus } from './gpu/status';
import { batchIcon } from './icons';
import { JobsModel } from './model';
import { JobMonitor } from './monitor/panel';
import { IParam, notebookParameters } from './params';
import { ISubmitDefaults, SubmitDialog, SubmitForm } from './submit/dialog';
import { sparkPlugins } from './spark/plugins';
import { sweepOf } from './sweep/api';
import { SweepCommandIDs, sweepPlugins } from './sweep/plugins';
import { notebookVariables } from './sweep/grid';
import { CommandIDs, EVENT_SCHEMA_ID, IJobsModel, PLUGIN_ID } from './tokens';

/** The jobs model: event bus subscription + Poll fallback. */
const modelPlugin: JupyterFrontEndPlugin<IJobsModel> = {
  id: 'swan-ml-ext:model',
  description: 'Keeps the jobs of every backend up to date.',
  autoStart: true,
  provides: IJobsModel,
  optional: [ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    settings: ISettingRegistry | null
  ): IJobsModel => {
    const model = new JobsModel({
      serverSettings: app.serviceManager.serverSettings
    });
    app.serviceManager.events.stream.connect((_, event) => {
      if (event.schema_id === EVENT_SCHEMA_ID) {
        void model.onEvent(event as any).catch(reason => {
          console.warn('swan-ml-ext: could not load a changed job', reason);
        });
      }
    });
    void app.restored.then(async () => {
      if (settings) {
        const s = await settings.load(PLUGIN_ID);
        const apply = () =>
          model.setInterval(1000 * (s.get('pollInterval').composite as number));
        apply();
        s.changed.connect(apply);
      }
      await Promise.all([model.loadBackends(), model.start()]).catch(reason => {
        // Said once, clearly: without the server extension nothing here works.
        Notification.error(
          `Batch jobs are unavailable: the swan-ml-ext server extension does not answer (${
            reason?.message ?? reason
          }).`,
          { autoClose: false }
        );
      });
    });
    return model;
  }
};

interface IOpenNotebook {
  path: string;
  params: IParam[];
  /** Its top-level variables (what a sweep can collect). */
  variables: string[];
}

/** What the dialog reads from a notebook's JSON. */
function readNotebook(path: string, nb: any): IOpenNotebook {
  const params = notebookParameters(nb);
  const variables = notebookVariables(
    nb,
    params.map(p => p.name)
  );
  return { path, params, variables };
}

/** "Run on batch": toolbar button, palette, file browser context menu, submit dialog. */
const submitPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Run the current notebook on a batch backend.',
  autoStart: true,
  requires: [IJobsModel],
  optional: [
    INotebookTracker,
    IDefaultFileBrowser,
    ICommandPalette,
    ISettingRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    model: IJobsModel,
    notebooks: INotebookTracker | null,
    browser: IDefaultFileBrowser | null,
    palette: ICommandPalette | null,
    settings: ISettingRegistry | null
  ): void => {
    let defaults: ISubmitDefaults = {};
    if (settings) {
      void settings.load(PLUGIN_ID).then(s => {
        const read = () => {
          defaults = {
            backend: (s.get('defaultBackend').composite as string) || undefined,
            environment:
              (s.get('defaultEnvironment').composite as string) || undefined,
            resources: (s.get('defaultResources').composite ?? {}) as IResources
          };
        };
        read();
        s.changed.connect(read);
      });
    }

    /** The notebook to submit: saved first when it is open with unsaved changes. */
    const target = async (args: any): Promise<IOpenNotebook | null> => {
      let path: string | undefined = args?.path;
      if (!path && args?.source === 'browser' && browser) {
        const item = browser.selectedItems().next();
        path = item && !item.done ? item.value.path : undefined;
      }
      const panel = path
        ? notebooks?.find(p => p.context.path === path)
        : notebooks?.currentWidget;
      if (panel) {
        if (panel.context.model.dirty) {
          await panel.context.save();
        }
        const nb = panel.context.model.toJSON();
        return readNotebook(panel.context.path, nb);
      }
      if (!path) {
        return null;
      }
      const file = await app.serviceManager.contents.get(path, {
        content: true
      });
      return readNotebook(path, file.content);
    };

    const openDialog = async (
      nb: IOpenNotebook,
      override: ISubmitDefaults = {},
      name = ''
    ): Promise<IJob | null> => {
      const backends = await model.loadBackends();
      const form = new SubmitForm(
        nb.path,
        backends,
        nb.params,
        {
          backend: override.backend ?? defaults.backend,
          environment: override.environment ?? defaults.environment,
          resources: { ...defaults.resources, ...override.resources },
          inputs: override.inputs,
          suggestedInputs: override.suggestedInputs
        },
        name
      );
      form.variables = nb.variables;
      form.inputs.selection = browser
        ? () => Array.from(browser.selectedItems(), item => item.path)
        : null;
      const dialog = new SubmitDialog(form, model);
      const result = await dialog.launch();
      if (result.button.accept && dialog.sweep) {
        const { name, counts } = dialog.sweep;
        const text = `Submitted sweep "${name}": ${counts.total} points.`;
        Notification.info(text, { autoClose: 4000 });
        void app.commands.execute(SweepCommandIDs.open, {
          id: dialog.sweep.id
        });
        return null;
      }
      if (!result.button.accept || !dialog.job) {
        return null;
      }
      const backend = model.backend(dialog.job.backend);
      Notification.info(
        `Submitted "${dialog.job.name}" to ${backend?.title || dialog.job.backend}.`,
        { autoClose: 4000 }
      );
      void app.commands.execute(CommandIDs.openMonitor);
      return dialog.job;
    };

    app.commands.addCommand(CommandIDs.runOnBatch, {
      label: 'Run on batch',
      caption: 'Run on batch: run this notebook as a batch job',
      icon: args => (args.toolbar ? batchIcon : undefined),
      execute: async args => {
        const source = args.path
          ? args
          : {
              ...args,
              source: app.contextMenuHitTest(n =>
                n.classList.contains('jp-DirListing-item')
              )
                ? 'browser'
                : 'notebook'
            };
        const nb = await target(source).catch(reason => {
          Notification.error(`Cannot read the notebook: ${reason}`);
          return null;
        });
        if (!nb) {
          Notification.warning('Open or select a notebook to run it on batch.');
          return null;
        }
        return openDialog(nb);
      }
    });
    // Resubmit with edits: the dialog prefilled from an earlier job.
    app.commands.addCommand(CommandIDs.resubmit, {
      label: 'Resubmit job…',
      execute: async args => {
        const listed = model.job(args.id as string);
        if (!listed) {
          return null;
        }
        // A list page may have left out large parameters: prefill from the whole job.
        const job = listed.truncated?.length
          ? await model.fetchJob(listed.id)
          : listed;
        const nb = await target({ path: job.notebook });
        if (!nb) {
          return null;
        }
        const params = nb.params.map(p =>
          p.name in job.parameters
            ? { ...p, text: toText(job.parameters[p.name]) }
            : p
        );
        return openDialog(
          { ...nb, params },
          {
            backend: job.backend,
            environment: job.environment,
            resources: job.resources,
            inputs: job.inputs,
            // A failed job that lacked files: offered pre-added, with a note saying why.
            suggestedInputs: job.outputs?.suggested_inputs
          },
          job.name
        );
      }
    });
    palette?.addItem({
      command: CommandIDs.runOnBatch,
      category: 'Batch jobs'
    });
  }
};

function toText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The job monitor in the left sidebar. */
const monitorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:monitor',
  description: 'A sidebar that follows the jobs of every backend.',
  autoStart: true,
  requires: [IJobsModel],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: IJobsModel,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): void => {
    const open = (path: string) =>
      void app.commands.execute('docmanager:open', { path });
    const monitor = new JobMonitor(model, {
      open,
      openSweep: id => void app.commands.execute(SweepCommandIDs.open, { id }),
      resubmit: job =>
        void app.commands.execute(CommandIDs.resubmit, { id: job.id }),
      notify: message => Notification.error(message)
    });
    monitor.id = 'swan-ml-ext-monitor';
    monitor.title.icon = batchIcon;
    monitor.title.caption = 'Batch jobs';
    app.shell.add(monitor, 'left', { rank: 600 });
    restorer?.add(monitor, 'swan-ml-ext-monitor');
    app.commands.addCommand(CommandIDs.openMonitor, {
      label: 'Show batch jobs',
      execute: () => app.shell.activateById(monitor.id)
    });
    palette?.addItem({
      command: CommandIDs.openMonitor,
      category: 'Batch jobs'
    });
  }
};

/** Notifications when a job completes or fails, also for jobs of earlier sessions. */
const notificationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:notifications',
  description: 'Notifies when a batch job completes or fails.',
  autoStart: true,
  requires: [IJobsModel],
  optional: [ISettingRegistry, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    model: IJobsModel,
    settings: ISettingRegistry | null,
    state: IStateDB | null
  ): void => {
    let enabled = true;
    const STATE_KEY = 'swan-ml-ext:notifications:last-seen';
    const notify = (job: IJob) => {
      if (!enabled) {
        return;
      }
      const actions = job.outputs?.notebook
        ? [
            {
              label: 'Open result',
              callback: () =>
                void app.commands.execute('docmanager:open', {
                  path: job.outputs.notebook
                })
            }
          ]
        : [];
      const text =
        job.state === 'completed'
          ? `Job "${job.name}" completed.`
          : `Job "${job.name}" failed: ${job.message}`;
      if (job.state === 'completed') {
        Notification.success(text, { actions, autoClose: 8000 });
      } else {
        Notification.error(text, { actions, autoClose: false });
      }
    };
    const remember = (job: IJob) =>
      void state?.save(STATE_KEY, job.finished_at ?? job.created_at);
    model.jobChanged.connect((_, { job, previous }) => {
      if (
        !sweepOf(job) && // a sweep says so once, for all its points (sweep plugin)
        previous &&
        !FINAL_STATES.has(previous) &&
        (job.state === 'completed' || job.state === 'failed')
      ) {
        notify(job);
        remember(job);
      }
    });
    void app.restored.then(async () => {
      if (settings) {
        const s = await settings.load(PLUGIN_ID);
        enabled = s.get('notifications').composite as boolean;
        s.changed.connect(() => {
          enabled = s.get('notifications').composite as boolean;
        });
      }
      // Jobs that finished while no Lab was open: say so once.
      const lastSeen = ((await state?.fetch(STATE_KEY)) as string) ?? null;
      const once = () => {
        model.changed.disconnect(once);
        const finished = model.jobs.filter(
          j =>
            (j.state === 'completed' || j.state === 'failed') &&
            j.finished_at &&
            (lastSeen === null || j.finished_at > lastSeen)
        );
        if (lastSeen !== null) {
          finished.slice(0, 5).forEach(notify);
          if (finished.length > 5) {
            Notification.info(
              `${finished.length - 5} more jobs finished while you were away.`
            );
          }
        }
        const newest = finished[0] ?? model.jobs.find(j => j.finished_at);
        if (newest) {
          remember(newest);
        }
      };
      model.changed.connect(once);
    });
  }
};

/** This session's GPU use in the status bar; a click lists devices and kernels. */
const gpuPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:gpu',
  description: "Shows this session's GPU use in the status bar.",
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null): void => {
    if (!statusBar) {
      return;
    }
    const model = new GpuModel({
      serverSettings: app.serviceManager.serverSettings
    });
    registerGpuStatus(statusBar, model, {
      open: path => void app.commands.execute('docmanager:open', { path })
    });
    void app.restored.then(() =>
      model.start().catch(reason => {
        console.warn('swan-ml-ext: GPU status unavailable', reason);
      })
    );
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  modelPlugin,
  submitPlugin,
  monitorPlugin,
  notificationsPlugin,
  gpuPlugin,
  ...sparkPlugins,
  ...sweepPlugins
];
export default plugins;
export { IJobsModel } from './tokens';
export type { IJobChange, IJobLogs, JobAction } from './tokens';
export { JobsModel } from './model';
export { ISparkModel } from './spark/tokens';
export { SparkModel } from './spark/model';
export { GpuModel } from './gpu/model';
