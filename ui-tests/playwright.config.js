/**
 * Galata in Debian's Chromium (Playwright cannot download browsers here), against a real
 * JupyterLab with swan-ml-ext on the personal HTCondor pool.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

module.exports = {
  ...baseConfig,
  timeout: 180000,
  expect: { timeout: 20000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: 'http://127.0.0.1:8877',
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    viewport: { width: 1366, height: 800 },
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'jlpm start',
    url: 'http://127.0.0.1:8877/lab',
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
