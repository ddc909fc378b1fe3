import { expect, test } from '@jupyterlab/galata';

/**
 * Sidebar with 10,000 jobs: time to first render and to apply a filter, in the browser.
 * Goal: <= 200 ms each. Prints medians of 5 runs (performance.now() to the frame that
 * shows the result).
 */
test('sidebar with 10,000 jobs', async ({ page }) => {
  // the model has loaded every page of jobs
  await page.waitForLoadState('networkidle');
  await expect
    .poll(async () =>
      page.evaluate(async () => {
        const r = await fetch('/swan-ml-ext/jobs?limit=1');
        return (await r.json()).total;
      })
    )
    .toBe(10000);
  await page.waitForTimeout(3000);

  const render: number[] = [];
  const filter: number[] = [];
  const search: number[] = [];
  for (let i = 0; i < 5; i++) {
    // first render: activate the panel until its rows are painted
    render.push(
      await page.evaluate(async () => {
        const app = (window as any).jupyterapp;
        app.shell.activateById('filebrowser');
        await new Promise(r => requestAnimationFrame(() => r(null)));
        const t0 = performance.now();
        app.shell.activateById('swan-ml-ext-monitor');
        await new Promise<void>(resolve => {
          const check = () => {
            const node = document.querySelector('#swan-ml-ext-monitor');
            const count = node?.querySelector('.jp-SwanML-count')?.textContent ?? '';
            if (node && node.querySelector('li') && count.includes('10000 jobs')) {
              resolve();
            } else {
              requestAnimationFrame(check);
            }
          };
          check();
        });
        return performance.now() - t0;
      })
    );
    for (const [target, into] of [
      ['failed', filter],
      ['', filter]
    ] as [string, number[]][]) {
      into.push(
        await page.evaluate(async value => {
          const select = document.querySelector(
            '#swan-ml-ext-monitor select[aria-label="Filter by state"]'
          ) as HTMLSelectElement;
          const setter = Object.getOwnPropertyDescriptor(
            HTMLSelectElement.prototype,
            'value'
          )!.set!;
          const t0 = performance.now();
          setter.call(select, value);
          select.dispatchEvent(new Event('change', { bubbles: true }));
          const want = value ? '3333 of 10000' : '10000 of 10000';
          await new Promise<void>(resolve => {
            const check = () =>
              document
                .querySelector('#swan-ml-ext-monitor .jp-SwanML-count')
                ?.textContent?.includes(want)
                ? resolve()
                : requestAnimationFrame(check);
            check();
          });
          return performance.now() - t0;
        }, target)
      );
    }
    search.push(
      await page.evaluate(async () => {
        const input = document.querySelector(
          '#swan-ml-ext-monitor input[aria-label="Search jobs"]'
        ) as HTMLInputElement;
        const setter = Object.getOwnPropertyDescriptor(
          HTMLInputElement.prototype,
          'value'
        )!.set!;
        const t0 = performance.now();
        setter.call(input, 'sweep point 999');
        input.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise<void>(resolve => {
          const check = () =>
            document
              .querySelector('#swan-ml-ext-monitor .jp-SwanML-count')
              ?.textContent?.includes('11 of 10000')
              ? resolve()
              : requestAnimationFrame(check);
          check();
        });
        const ms = performance.now() - t0;
        setter.call(input, '');
        input.dispatchEvent(new Event('input', { bubbles: true }));
        return ms;
      })
    );
  }
  // what the model fetches once at start: every page of 500 jobs
  const load: number[] = [];
  for (let i = 0; i < 3; i++) {
    load.push(
      await page.evaluate(async () => {
        const t0 = performance.now();
        let token: string | null = null;
        let n = 0;
        do {
          const r = await fetch(
            '/swan-ml-ext/jobs?limit=500' + (token ? `&page_token=${token}` : '')
          );
          const page = await r.json();
          n += page.jobs.length;
          token = page.next_page_token;
        } while (token);
        if (n !== 10000) {
          throw new Error(`loaded ${n}`);
        }
        return performance.now() - t0;
      })
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const line = (name: string, xs: number[]) =>
    `  ${name.padEnd(34)} median ${median(xs).toFixed(1)} ms  (runs: ${xs
      .map(x => x.toFixed(0))
      .join(', ')}); goal <= 200 ms: ${median(xs) <= 200 ? 'MET' : 'NOT MET'}`;
  console.log('\n## sidebar with 10,000 jobs (Chromium)');
  console.log(line('first render (activate panel)', render));
  console.log(line('apply state filter', filter));
  console.log(line('text search', search));
  console.log(
    `  ${'load 10,000 jobs (20 REST pages)'.padEnd(34)} median ${median(load).toFixed(0)} ms (once, at start; not part of the goal)`
  );
});
