// The flows installed in a bridge, mirrored in memory by the agent that alone writes it
// (fail_mode secure, no other controller). After one dump, every bundle OVS accepts is
// applied to the mirror too, so later syncs plan without `dump-flows`: one ovs-ofctl
// process per change instead of two. The owner drops the mirror (and dumps again) whenever a
// bundle fails, since OVS then may hold something else than either side of the diff.
//
// Dumped flows are in OVS's canonical text. Flows recorded from a bundle are in the text the
// agent wrote; where that text was never checked against OVS ("loose"), the planner asks OVS
// for their canonical form before letting them meet a desired flow written differently (see
// OpenFlowBridge.plan), so one switch flow never appears under two keys.
import { FlowIndex, type FlowChanges } from './flow-plan.js';
import type { OvsFlow } from './flow.js';

export class InstalledFlows extends FlowIndex {
  private readonly loose = new Set<OvsFlow>();

  /** Applies a bundle that OVS accepted; `canonical(f)` says whether f's text is OVS's own. */
  record(c: FlowChanges, canonical: (f: OvsFlow) => boolean): void {
    for (const f of c.delete) {
      const old = this.delete(f);
      if (old) this.loose.delete(old);
    }
    for (const list of [c.add, c.replace, c.modify]) {
      for (const f of list) {
        const old = this.get(f);
        if (old) this.loose.delete(old);
        this.set(f);
        if (!canonical(f)) this.loose.add(f);
      }
    }
  }

  /** True for a flow recorded in the agent's text, which OVS has not confirmed. */
  isLoose(f: OvsFlow): boolean {
    return this.loose.has(f);
  }

  /** Of these installed flows, those recorded in text OVS has not confirmed. */
  looseAmong(flows: readonly OvsFlow[]): OvsFlow[] {
    return this.loose.size ? flows.filter((f) => this.loose.has(f)) : [];
  }

  /** Replaces a loose entry by its canonical form (same switch flow, OVS's text). */
  settle(loose: OvsFlow, canonical: OvsFlow): void {
    if (this.get(loose) === loose) this.delete(loose);
    this.loose.delete(loose);
    this.set(canonical);
  }
}

/** Flows that expire inside OVS cannot be mirrored: the switch removes them on its own. */
export const expires = (f: OvsFlow) => !!(f.idleTimeout || f.hardTimeout);
