import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  Notification
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { IFrame } from '@jupyterlab/ui-components';

import { sparkIcon } from '../icons';
import { PLUGIN_ID } from '../tokens';
import { CellProgress } from './cellProgress';
import { SparkModel } from './model';
import { TrackedNotebooks } from './notebooks';
import { SparkPanel } from './panel';
import {
  ISparkEvent,
  ISparkModel,
  SPARK_EVENT_SCHEMA_ID,
  SparkCommandIDs
} from './tokens';
import { createSparkUITab, markEnded, sparkUITabId } from './uiTab';

const CATEGORY = 'Spark';
const PANEL_ID = 'swan-ml-ext-spark';

/** The Spark model: the server's events, with a Poll as fallback. */
export const sparkModelPlugin: JupyterFrontEndPlugin<ISparkModel> = {
  id: 'swan-ml-ext:spark-model',
  description:
    'Keeps the Spark sessions and the jobs of those shown up to date.',
  autoStart: true,
  provides: ISparkModel,
  activate: (app: JupyterFrontEnd): ISparkModel => {
    const model = new SparkModel({
      serverSettings: app.serviceManager.serverSettings
    });
    app.serviceManager.events.stream.connect((_, event) => {
      if (event.schema_id === SPARK_EVENT_SCHEMA_ID) {
        void model.onEvent(event as unknown as ISparkEvent).catch(reason => {
          console.warn(
            'swan-ml-ext: could not load a changed Spark session',
            reason
          );
        });
      }
    });
    void app.restored.then(() =>
      model.start().catch(reason => {
        console.warn('swan-ml-ext: Spark sessions unavailable', reason);
      })
    );
    return model;
  }
};

/** Tabs with a session's Spark UI, one per session. */
export const sparkUIPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:spark-ui',
  description: 'Opens the Spark UI of a session in a Lab tab.',
  autoStart: true,
  requires: [ISparkModel],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: ISparkModel,
    palette: ICommandPalette | null
  ): void => {
    const tabs = new Map<string, MainAreaWidget<IFrame>>();
    /** The session asked for, else the only active one. */
    const target = (id: unknown) =>
      typeof id === 'string'
        ? model.session(id)
        : model.sessions.filter(s => s.state === 'active').length === 1
          ? model.sessions.find(s => s.state === 'active')
          : undefined;
    app.commands.addCommand(SparkCommandIDs.openUI, {
      label: 'Open Spark UI',
      caption: 'Open the Spark UI of a session in a tab',
      icon: sparkIcon,
      isEnabled: args => !!target(args.id),
      execute: args => {
        const session = target(args.id);
        if (!session) {
          return;
        }
        let tab = tabs.get(session.id);
        if (!tab || tab.isDisposed) {
          tab = createSparkUITab(
            app.serviceManager.serverSettings.baseUrl,
            session
          );
          tabs.set(session.id, tab);
          tab.disposed.connect(() => tabs.delete(session.id));
          app.shell.add(tab, 'main');
        }
        app.shell.activateById(sparkUITabId(session));
        return tab;
      }
    });
    palette?.addItem({ command: SparkCommandIDs.openUI, category: CATEGORY });
    // A tab whose session ended says so (the UI it shows is gone with the session).
    model.changed.connect(() => {
      tabs.forEach((tab, id) => {
        if (model.session(id)?.state === 'ended') {
          markEnded(tab);
        }
      });
    });
  }
};

/** The Spark sidebar, and Connect for the active notebook. */
export const sparkPanelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:spark-panel',
  description:
    'A sidebar with the Spark sessions, their jobs by cell, stages and executors.',
  autoStart: true,
  requires: [ISparkModel],
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: ISparkModel,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): void => {
    const notebooks = tracker ? new TrackedNotebooks(tracker) : null;
    const panel = new SparkPanel(model, notebooks, {
      openUI: session =>
        void app.commands.execute(SparkCommandIDs.openUI, { id: session.id })
    });
    panel.id = PANEL_ID;
    panel.title.icon = sparkIcon;
    panel.title.caption = 'Spark';
    app.shell.add(panel, 'left', { rank: 610 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand(SparkCommandIDs.togglePanel, {
      label: 'Show/hide the Spark panel',
      execute: () =>
        panel.isVisible
          ? app.commands.execute('application:toggle-left-area')
          : app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(SparkCommandIDs.connect, {
      label: 'Connect notebook to Spark…',
      caption:
        'Connect the active notebook to Spark (choose a profile in the Spark panel)',
      icon: sparkIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    for (const command of [
      SparkCommandIDs.togglePanel,
      SparkCommandIDs.connect
    ]) {
      palette?.addItem({ command, category: CATEGORY });
    }
  }
};

/** `%swan spark connect` in a cell: once it ran, the server looks at that kernel. */
const MAGIC_CONNECT = /^\s*%+swan\s+spark\s+connect\b/m;

/** Progress bars under the cells that run Spark jobs; sessions made by the magic. */
export const sparkCellsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:spark-cells',
  description: 'Shows the Spark jobs of a cell under the cell while they run.',
  autoStart: true,
  requires: [ISparkModel, INotebookTracker],
  optional: [ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    model: ISparkModel,
    tracker: INotebookTracker,
    settings: ISettingRegistry | null
  ): void => {
    const bars = new CellProgress(model, tracker);
    if (settings) {
      void settings.load(PLUGIN_ID).then(s => {
        const apply = () => {
          bars.enabled = s.get('sparkCellProgress').composite as boolean;
        };
        apply();
        s.changed.connect(apply);
      });
    }
    NotebookActions.executed.connect((_, { notebook, cell, success }) => {
      const panel = tracker.find(p => p.content === notebook);
      const kernelId = panel?.sessionContext.session?.kernel?.id;
      if (!success || !kernelId) {
        return;
      }
      if (MAGIC_CONNECT.test(cell.model.sharedModel.getSource())) {
        model.attach(kernelId).catch(reason => {
          Notification.warning(
            `Spark panel: could not register this kernel's session (${reason?.message ?? reason}).`
          );
        });
      }
    });
  }
};

export const sparkPlugins: JupyterFrontEndPlugin<any>[] = [
  sparkModelPlugin,
  sparkUIPlugin,
  sparkPanelPlugin,
  sparkCellsPlugin
];
