// Small waits shared by the inventory tests.
import type { InventoryChange, InventorySource } from '../../../src/api/inventory.js';

/** Polls until `check` returns a value other than undefined/false, or fails after `ms`. */
export async function until<T>(check: () => T | undefined | false, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records every 'change' the source emits, in order. */
export function recordChanges(source: InventorySource): InventoryChange[] {
  const changes: InventoryChange[] = [];
  source.on('change', (c) => changes.push(c));
  return changes;
}

/** `kind type ns/name` per change, for compact assertions. */
export const summary = (changes: InventoryChange[]): string[] =>
  changes.map((c) => `${c.kind} ${c.type} ${'namespace' in c.object ? `${c.object.namespace}/` : ''}${c.object.name}`);
