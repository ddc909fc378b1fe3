/**
 * What the widget specs share: render a widget, type into its fields as a user does, find a
 * field by its label. (The `requestAPI` stand-in and `sleep`/`until` are in spark-fixtures;
 * an opened submit dialog and a job monitor in widget-fixtures.)
 */
import { Widget } from '@lumino/widgets';

import { sleep } from './spark-fixtures';

/** Attached (once) and updated; React has rendered it when this resolves. */
export async function rendered(w: Widget): Promise<HTMLElement> {
  if (!w.isAttached && !w.parent) {
    Widget.attach(w, document.body);
  }
  w.update();
  // React renders on its own schedule: wait for it (a loaded machine is slow the first time)
  for (let i = 0; i < 100 && !w.node.firstElementChild; i++) {
    await sleep(20);
  }
  await sleep(50);
  return w.node;
}

/** Type into an input or textarea (or choose in a select) as a user does: React sees the event. */
export async function enter(
  el: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  value: string
): Promise<void> {
  const proto = Object.getPrototypeOf(el);
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(
    new Event(el instanceof HTMLSelectElement ? 'change' : 'input', {
      bubbles: true
    })
  );
  await sleep(20);
}

/** The field with this aria-label (an error when there is none). */
export function field<T extends Element = HTMLInputElement>(
  node: HTMLElement,
  label: string
): T {
  const el = node.querySelector(`[aria-label="${label}"]`);
  if (!el) {
    throw new Error(`no field labelled ${label}`);
  }
  return el as T;
}
