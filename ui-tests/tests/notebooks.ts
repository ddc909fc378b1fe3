/**
 * What the Galata specs share: notebook JSON to upload, the server's job count (not a spec:
 * Playwright runs only `*.spec.ts`).
 */
import type { Page } from '@playwright/test';

/** A notebook of code cells (`cells`), after a `parameters`-tagged cell when `params` is given. */
export function notebook(cells: string[], params?: string): string {
  const code = (source: string, tags: string[] = []) => ({
    cell_type: 'code',
    metadata: { tags },
    source,
    outputs: [],
    execution_count: null
  });
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
    },
    cells: [
      ...(params ? [code(params, ['parameters'])] : []),
      ...cells.map(c => code(c))
    ]
  });
}

/** How many jobs the server has (a check or a refused submit must not change it). */
export async function jobCount(page: Page): Promise<number> {
  const resp = await page.request.get('/swan-ml-ext/jobs?limit=1');
  return (await resp.json()).total;
}
