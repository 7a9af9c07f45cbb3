// Converges the box's datapath — flows on the integration bridge and host routes to the
// peers — to what the agent knows now. One run computes the whole desired flow set from
// every feature and applies the difference in one bundle; runs never overlap and bursts of
// changes collapse (CoalescingRunner). The first run after start is a FlowRound: flows of the
// previous incarnation are adopted when unchanged and retired only after the new set is in,
// so an agent restart never interrupts forwarding.
import { CoalescingRunner } from '../lib/coalesce.js';
import { createLogger } from '../lib/log.js';
import { phaseRecorder, type PhaseSpan } from '../lib/phases.js';
import { connectivityFlows, mergeFlows, type ConnectivityState, type PeerBox } from './connectivity/flows.js';
import type { NodeNetwork } from './node-network.js';
import type { OpenFlowBridge } from './ovs/bridge.js';
import { CookieAllocator } from './ovs/cookie.js';
import type { Flow } from './ovs/flow.js';
import { FlowInterner, LastResult } from './ovs/flow-memo.js';
import type { Group } from './ovs/group.js';
import type { Pipeline } from './ovs/pipeline.js';
import { defaultFlows } from './ovs/default-flows.js';
import { reconcileRound } from './ovs/round.js';
import type { OvsPodPorts } from './pod-ports.js';
import { desiredPeerRoutes, reconcilePeerRoutes } from './route/node-routes.js';

const log = createLogger('datapath');
/** One sync: the desired flows built (pod ports, features, derived), planned, bundled; the routes beside them. */
const phases = phaseRecorder('agent.datapath');

/** A module that owns flows: given the pipeline and this incarnation's cookies, its flows now. */
export interface FlowFeature {
  name: string;
  flows(pipeline: Pipeline, cookies: CookieAllocator): Flow[] | Promise<Flow[]>;
  /**
   * It hands the same Flow objects again for the flows that did not change (Services, policy),
   * so the datapath takes them as they are; otherwise the datapath interns them (flow-memo.ts).
   */
  keepsFlows?: boolean;
  /** OpenFlow groups its flows point at (Service select groups), as of its last flows() call. */
  groups?(): Group[];
}

/** A module whose flows depend on every other feature's (Traceflow copies the drop flows for its tags). */
export interface DerivedFlowFeature {
  name: string;
  derivedFlows(all: readonly Flow[], pipeline: Pipeline, cookies: CookieAllocator): Flow[];
}

export interface DatapathOptions {
  bridge: OpenFlowBridge;
  pipeline: Pipeline;
  round: number;
  podPorts: OvsPodPorts;
  network: NodeNetwork;
  podCIDR: string;
  serviceCIDR: string;
  /** The other boxes, as the inventory knows them now. */
  peers: () => PeerBox[];
  /** Device that reaches noEncap peers' underlay addresses. */
  underlayDev?: string;
  /** The WireGuard device peers' pod CIDRs are routed into (trafficEncryptionMode wireGuard). */
  wireGuardDev?: string;
  /** Features beyond pod connectivity (network policy, …); their flows join the same bundle. */
  features?: FlowFeature[];
  /** Computed last, from the full set of the others. */
  derived?: DerivedFlowFeature[];
}

export interface DatapathStats {
  syncs: number;
  lastSync?: { added: number; modified: number; deleted: number; unchanged: number; ms: number };
}

export class Datapath {
  readonly cookies: CookieAllocator;
  readonly stats: DatapathStats = { syncs: 0 };
  private readonly runner = new CoalescingRunner(() => this.syncOnce());
  private firstDone = false;
  // Every part of the desired set keeps its Flow objects while its inputs stay, so that the
  // bridge plans only what changed (a Service change: the Service flows) instead of the table.
  private readonly defaults = new LastResult<Flow[]>();
  private readonly connectivity = new LastResult<Flow[]>();
  private readonly merged = new LastResult<Flow[]>();
  private readonly interners = new Map<string, FlowInterner>();

  constructor(private readonly o: DatapathOptions) {
    this.cookies = new CookieAllocator(o.round);
  }

  /** Resolves after a sync that started after this call. */
  sync(): Promise<void> {
    return this.runner.run();
  }

  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** The desired flow set; where two flows share (table, priority, match), the later one is meant. */
  async desiredFlows(span?: PhaseSpan): Promise<Flow[]> {
    const o = this.o;
    const pods = await o.podPorts.list();
    span?.mark('ports');
    const state: ConnectivityState = {
      podCIDR: o.podCIDR,
      serviceCIDR: o.serviceCIDR,
      gateway: o.network.gateway,
      tunnel: o.network.tunnel,
      pods: pods.map((p) => ({ key: p.key, ofport: p.ofport, mac: p.mac, ip: p.ip })),
      peers: o.peers(),
    };
    // By content: the pods and peers are listed again (new objects) on every sync. When they
    // change, the flows of the pods and peers that stayed keep their objects all the same.
    const connectivity = this.connectivity.get([o.pipeline, this.cookies, JSON.stringify(state)], () => this.interner('connectivity').intern(connectivityFlows(state, o.pipeline, this.cookies)));
    const others = await Promise.all((o.features ?? []).map(async (f) => {
      const flows = await f.flows(o.pipeline, this.cookies);
      return f.keepsFlows ? flows : this.interner(`feature/${f.name}`).intern(flows);
    }));
    span?.mark('features');
    const defaults = this.defaults.get([o.pipeline, this.cookies.round], () => defaultFlows(o.pipeline, this.cookies.round));
    // Features' flows (possibly 10k policy flows) are appended rather than merged: the planner
    // keeps the last flow of each (table, priority, match) too, so overriding a default works
    // the same, without building a key string per flow here.
    const flows = [...this.merged.get([defaults, connectivity], () => mergeFlows(defaults, connectivity))];
    for (const f of others) for (const x of f) flows.push(x);
    for (const d of o.derived ?? []) for (const x of this.interner(`derived/${d.name}`).intern(d.derivedFlows(flows, o.pipeline, this.cookies))) flows.push(x);
    span?.mark('derived');
    return flows;
  }

  private interner(name: string): FlowInterner {
    let i = this.interners.get(name);
    if (!i) this.interners.set(name, (i = new FlowInterner()));
    return i;
  }

  /** Groups of the features, as of their last flows() (call after desiredFlows). */
  private desiredGroups(): Group[] {
    return (this.o.features ?? []).flatMap((f) => f.groups?.() ?? []);
  }

  private async syncOnce(): Promise<void> {
    const t0 = Date.now();
    const span = phases.begin();
    const desired = await this.o.podPorts.shared(() => this.desiredFlows(span));
    const groups = this.desiredGroups();
    // Flows and host routes are independent: their processes run side by side. After the
    // first run (a FlowRound, which dumps) the bridge plans against its mirror of the table,
    // groups in the same bundle as flows.
    const [result, routes] = await Promise.all([
      this.firstDone ? this.o.bridge.reconcile(desired, { groups, phases: span }) : this.firstRound(desired, groups),
      reconcilePeerRoutes(desiredPeerRoutes(this.o.peers(), this.o.network.gateway.name, this.o.underlayDev, this.o.wireGuardDev)),
    ]);
    span.mark('routes'); // what the routes took beyond the flows (they run side by side)
    span.note({ flows: desired.length });
    span.end();
    this.firstDone = true;
    this.stats.syncs++;
    this.stats.lastSync = { added: result.added, modified: result.modified, deleted: result.deleted, unchanged: result.unchanged, ms: Date.now() - t0 };
    if (result.added || result.modified || result.deleted || routes.length) {
      log.info({ ...this.stats.lastSync, adopted: result.adopted, routeChanges: routes.length }, 'datapath synced');
    }
  }

  /** The FlowRound after a start: new and changed groups before the flows that use them, stale ones after. */
  private async firstRound(desired: Flow[], groups: Group[]) {
    const changes = await this.o.bridge.planGroups(groups);
    await this.o.bridge.applyGroups({ ...changes, delete: [] });
    const result = await reconcileRound(this.o.bridge, desired, this.cookies.round);
    await this.o.bridge.applyGroups({ add: [], modify: [], delete: changes.delete });
    return result;
  }
}
