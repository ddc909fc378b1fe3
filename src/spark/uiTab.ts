import { MainAreaWidget } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { IFrame } from '@jupyterlab/ui-components';

import type { ISparkSession } from './api';
import { sparkIcon } from '../icons';

/**
 * What the Spark UI frame may do: its scripts (tables, timelines), its forms with their
 * confirm() dialogs (kill a job or stage) and same-origin requests (it is served by this
 * server, under swan-ml-ext/spark/ui/<sid>/, never with the Jupyter token).
 */
export const SPARK_UI_SANDBOX: IFrame.SandboxExceptions[] = [
  'allow-same-origin',
  'allow-scripts',
  'allow-forms',
  'allow-modals'
];

/** The session's Spark UI (its Jobs page) through the server's own route. */
export function sparkUIUrl(baseUrl: string, session: ISparkSession): string {
  const path =
    session.ui_path ||
    `swan-ml-ext/spark/ui/${encodeURIComponent(session.id)}/jobs/`;
  return URLExt.join(baseUrl, path);
}

/** The Lab tab's id for a session: one tab per session. */
export function sparkUITabId(session: ISparkSession): string {
  return `swan-ml-ext-spark-ui-${session.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** A main-area tab showing a session's Spark UI. */
export function createSparkUITab(
  baseUrl: string,
  session: ISparkSession
): MainAreaWidget<IFrame> {
  const frame = new IFrame({
    sandbox: SPARK_UI_SANDBOX,
    referrerPolicy: 'same-origin'
  });
  frame.url = sparkUIUrl(baseUrl, session);
  frame.addClass('jp-SwanSpark-uiFrame');
  const tab = new MainAreaWidget({ content: frame });
  tab.id = sparkUITabId(session);
  tab.title.label =
    `Spark UI: ${session.profile} ${session.app_id ?? ''}`.trim();
  tab.title.caption = `Spark UI of ${session.app_name || session.id}`;
  tab.title.icon = sparkIcon;
  tab.title.closable = true;
  tab.node.dataset.testid = 'spark-ui-tab';
  tab.node.dataset.sessionId = session.id;
  return tab;
}

/** Say in a tab's title that its session ended (once). */
export function markEnded(tab: MainAreaWidget<IFrame>): void {
  if (!tab.hasClass('jp-mod-ended')) {
    tab.addClass('jp-mod-ended');
    tab.title.label = `${tab.title.label} (ended)`;
  }
}
