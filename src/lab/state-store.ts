// The lab state of one locked operation, persisted after every change together with the agents'
// inventory view of it. Apart from state.ts (the schema and file) because inventory-file.ts reads
// the state's types: one module importing both keeps them free of a cycle.
import path from 'node:path';
import { writeInventory } from './inventory-file.js';
import { writeState, type LabState } from './state.js';

/**
 * Holds the lab state of one locked operation in memory and persists it after every change.
 * Saves are chained, so changes made by concurrent steps (boxes are built in parallel) are
 * written in order and the file always reflects at least everything that exists.
 */
export class StateStore {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly file: string, public state: LabState) {}

  /** Apply a change and wait until it is on disk (the state, and the agents' inventory view of it). */
  update(change: (s: LabState) => void): Promise<void> {
    change(this.state);
    const snapshot = structuredClone(this.state);
    this.chain = this.chain.then(async () => {
      await writeState(this.file, snapshot);
      await writeInventory(path.dirname(this.file), snapshot);
    });
    return this.chain;
  }
}
