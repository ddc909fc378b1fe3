import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';

import { IBackends, requestAPI } from './api';

/**
 * Checks once that the swan-ml-ext server extension answers, and says so clearly if not.
 */
const serverCheck: JupyterFrontEndPlugin<void> = {
  id: 'swan-ml-ext:server-check',
  description: 'Checks that the swan-ml-ext server extension is running.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    const settings = app.serviceManager.serverSettings;
    void requestAPI<IBackends>('backends', {}, settings)
      .then(data => {
        const names = data.backends.map(
          b => `${b.name}${b.available ? '' : ' (unavailable)'}`
        );
        console.log(`swan-ml-ext: backends ${names.join(', ')}`);
      })
      .catch(reason => {
        Notification.error(
          `The swan-ml-ext server extension is not answering: ${reason.message ?? reason}`,
          { autoClose: false }
        );
      });
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [serverCheck];
export default plugins;
