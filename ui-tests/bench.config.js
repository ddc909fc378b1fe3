/** `make bench`: the sidebar with 10,000 jobs, measured in Debian's Chromium. */
const base = require('./playwright.config.js');

module.exports = {
  ...base,
  testDir: './bench',
  testMatch: '**/*.bench.ts',
  use: { ...base.use, baseURL: 'http://127.0.0.1:8878' },
  webServer: {
    command: 'jupyter lab --config jupyter_server_bench_config.py',
    url: 'http://127.0.0.1:8878/lab',
    timeout: 180 * 1000,
    reuseExistingServer: false
  }
};
