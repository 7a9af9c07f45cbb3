// Antrea's restart sequence without its churn. After an agent restart the flows of the
// previous incarnation are still in OVS and still forwarding; modules replay their desired
// flows one by one as their state syncs, and only when all are done are the flows nobody
// claimed removed ("stale flow removal"). Each install is a diff against the snapshot taken
// at the start, so an unchanged flow is adopted (kept, counters and old cookie included)
// instead of being re-added, and forwarding never has a gap.
import { emptyChanges, FlowIndex } from './flow-plan.js';
import { flowKey, toOvsFlow, type Flow, type OvsFlow } from './flow.js';
import { resultOf, type OpenFlowBridge, type ReconcileResult } from './bridge.js';
import { decodeCookie, matchesFilter, type CookieFilter } from './cookie.js';

export class FlowRound {
  private readonly claimed = new Set<OvsFlow>();
  private finished = false;

  private constructor(
    private readonly bridge: OpenFlowBridge,
    readonly round: number,
    private readonly snapshot: FlowIndex,
    readonly scope?: CookieFilter,
  ) {}

  /** Snapshots the installed flows (within scope) that this round may adopt or retire. */
  static async begin(bridge: OpenFlowBridge, round: number, scope?: CookieFilter): Promise<FlowRound> {
    const switchId = scope ? '' : await bridge.switchIdentity();
    const installed = await bridge.dumpFlows({ cookie: scope });
    if (!scope) bridge.trust(installed, switchId); // a sole-writer bridge mirrors the table from here on
    return new FlowRound(bridge, round, new FlowIndex(installed), scope);
  }

  /** Installs (adds or modifies) these flows in one bundle; deletes nothing. */
  async install(flows: readonly Flow[]): Promise<ReconcileResult> {
    if (this.finished) throw new Error(`flow round ${this.round} is finished`);
    const desired = flows.map((f) => toOvsFlow(f, this.bridge.tables));
    for (const d of desired) {
      if (decodeCookie(d.cookie).round !== this.round) throw new Error(`flow ${flowKey(d)} carries round ${decodeCookie(d.cookie).round}, not ${this.round}`);
      if (this.scope && !matchesFilter(d.cookie, this.scope)) throw new Error(`flow ${flowKey(d)} has a cookie outside this round's scope`);
    }
    const leftovers = this.snapshot.size - this.claimed.size;
    const plan = await this.bridge.plan(this.snapshot, desired, false, leftovers);
    await this.bridge.apply({ ...plan, delete: [] });
    for (const f of plan.claimed) this.claimed.add(f);
    // What is now installed, so a later install in this round diffs against it.
    for (const f of [...plan.add, ...plan.replace, ...plan.modify]) {
      const old = this.snapshot.get(f);
      if (old) this.claimed.delete(old); // keeps claimed ⊆ snapshot, so leftovers stays exact
      this.snapshot.set(f);
      this.claimed.add(f);
    }
    return resultOf(plan);
  }

  /** Deletes the snapshot's flows that no install of this round claimed, in one bundle. */
  async finish(): Promise<{ deleted: number }> {
    this.finished = true;
    const stale = [...this.snapshot.values()].filter((f) => !this.claimed.has(f));
    await this.bridge.apply({ ...emptyChanges(), delete: stale });
    return { deleted: stale.length };
  }
}

/** Install then retire in two bundles: Antrea's order (new round's flows first, stale ones after). */
export async function reconcileRound(bridge: OpenFlowBridge, desired: readonly Flow[], round: number, scope?: CookieFilter): Promise<ReconcileResult> {
  const r = await FlowRound.begin(bridge, round, scope);
  const res = await r.install(desired);
  const { deleted } = await r.finish();
  return { ...res, deleted };
}
