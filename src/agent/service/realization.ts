// The Service flows and groups of the last sync, kept per Service so that a change costs only
// the Services it touched (AntreaProxy's serviceChanges/endpointsChanges trackers do the same
// in pkg/agent/proxy). A Service is recomputed when its object or one of its EndpointSlices is
// not the one seen last time: the inventory replaces a changed object and keeps an unchanged
// one (agent/inventory/store.ts), so a reference comparison finds the changes; where the
// references differ, a content signature tells a rebuilt-but-equal object from a real change.
//
// The result is exactly what the full recompute (planServices + serviceFlows) gives, so an
// agent that restarts converges to the same flows: cookies and group ids depend only on keys,
// and group ids are allocated as allocateGroupIds does over every key (each key gets its hash;
// while any two hashes collide, the whole set is re-allocated and Services whose ids moved are
// recomputed). EndpointDNAT flows are shared by every Service port balancing to the endpoint
// and counted by reference.
import type { Inventory, InventoryEndpointSlice, InventoryService } from '../../api/inventory.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import { allocateGroupIds, groupIdOf, type Group } from '../ovs/group.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { endpointDNATFlow, groupKeys, servicePortFlows, type EndpointTarget } from './flows.js';
import { byKey, planService, slicesByService, type ServicePortPlan } from './plan.js';

const NO_SLICES: readonly InventoryEndpointSlice[] = Object.freeze([]);

interface ServiceEntry {
  svc: InventoryService;
  slices: readonly InventoryEndpointSlice[];
  /** Content signature of svc and slices, computed only when a reference changed. */
  sig?: string;
  /** The last update() that found this Service in the inventory. */
  scan: number;
  plans: ServicePortPlan[];
  groupKeys: string[];
  flows: Flow[];
  groups: Group[];
  endpoints: string[];
  /** Group id → endpoints, for ports with ClientIP affinity (whose learned choices must go when one leaves). */
  affinity: [number, Set<string>][];
}

export interface RealizationUpdate {
  /** Services (`namespace/name`) recomputed, added or removed by this update. */
  changed: number;
  /** Affinity groups that lost an endpoint (or went away): their learned flows must be deleted. */
  shrunk: number[];
}

type Realized = { flows: Flow[]; groups: Group[] };

const signature = (svc: InventoryService, slices: readonly InventoryEndpointSlice[]) => JSON.stringify([svc, slices]);
const sameRefs = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export class ServiceRealization {
  private readonly entries = new Map<string, ServiceEntry>();
  /** Service keys in sorted order (the full recompute's order); undefined after an add or remove. */
  private order?: string[];
  private groupIds = new Map<string, number>();
  /** How many group keys hash to each id; `collisions` counts ids with more than one. */
  private readonly hashCounts = new Map<number, number>();
  private collisions = 0;
  private readonly dnat = new Map<string, { flow: Flow; refs: number }>();
  private readonly affinity = new Map<number, Set<string>>();
  private cache?: Realized;
  private sortedPlans?: ServicePortPlan[];
  private scans = 0;

  constructor(
    private readonly nodeName: string,
    readonly pipeline: Pipeline,
    readonly cookies: CookieAllocator,
  ) {}

  /** Brings the kept state to this inventory, recomputing only the Services that changed. */
  update(inv: Inventory): RealizationUpdate {
    const slices = slicesByService(inv);
    const dirty: { key: string; svc: InventoryService; slices: readonly InventoryEndpointSlice[]; sig?: string }[] = [];
    const scan = ++this.scans;
    let matched = 0;
    for (const svc of inv.services?.values() ?? []) {
      const key = `${svc.namespace}/${svc.name}`;
      const sl = slices.get(key) ?? NO_SLICES;
      const e = this.entries.get(key);
      if (!e) {
        dirty.push({ key, svc, slices: sl });
        continue;
      }
      if (e.scan !== scan) matched++;
      e.scan = scan;
      if (e.svc === svc && sameRefs(e.slices, sl)) continue;
      const sig = signature(svc, sl);
      if (sig === (e.sig ??= signature(e.svc, e.slices))) {
        Object.assign(e, { svc, slices: sl, sig }); // equal content, new objects: keep the result
        continue;
      }
      dirty.push({ key, svc, slices: sl, sig });
    }
    const removed = new Set(matched === this.entries.size ? [] : [...this.entries].filter(([, e]) => e.scan !== scan).map(([k]) => k));
    if (!dirty.length && !removed.size) return { changed: 0, shrunk: [] };

    // Plans and group keys first: group ids depend on the whole key set.
    const next = new Map<string, { svc: InventoryService; slices: readonly InventoryEndpointSlice[]; sig?: string; plans: ServicePortPlan[]; groupKeys: string[] }>();
    for (const d of dirty) {
      const plans = planService(d.svc, d.slices, this.nodeName);
      next.set(d.key, { ...d, plans, groupKeys: groupKeys(plans) });
    }
    const hadCollisions = this.collisions > 0;
    for (const key of [...removed, ...dirty.map((d) => d.key)]) for (const g of this.entries.get(key)?.groupKeys ?? []) this.countHash(g, -1);
    for (const n of next.values()) for (const g of n.groupKeys) this.countHash(g, +1);
    const recompute = new Set(next.keys());
    if (hadCollisions || this.collisions > 0) {
      // Rare: re-allocate every key as the full recompute would, and redo Services whose ids moved.
      const keys: string[] = [];
      for (const [k, e] of this.entries) if (!next.has(k) && !removed.has(k)) for (const g of e.groupKeys) keys.push(g);
      for (const n of next.values()) keys.push(...n.groupKeys);
      const ids = allocateGroupIds(keys);
      for (const [k, e] of this.entries) {
        if (next.has(k) || removed.has(k)) continue;
        if (e.groupKeys.some((g) => this.groupIds.get(g) !== ids.get(g))) {
          recompute.add(k);
          next.set(k, { svc: e.svc, slices: e.slices, sig: e.sig, plans: e.plans, groupKeys: e.groupKeys });
        }
      }
      this.groupIds = ids;
    } else {
      for (const key of [...removed, ...dirty.map((d) => d.key)]) for (const g of this.entries.get(key)?.groupKeys ?? []) this.groupIds.delete(g);
      for (const n of next.values()) for (const g of n.groupKeys) this.groupIds.set(g, groupIdOf(g));
    }

    // New flows first, then the old ones released: an endpoint that stays keeps its one flow object.
    const old: ServiceEntry[] = [];
    for (const [key, n] of next) {
      const before = this.entries.get(key);
      if (before) old.push(before);
      const entry = this.build(n.svc, n.slices, n.plans, n.groupKeys);
      entry.sig = n.sig;
      entry.scan = scan;
      if (!before) this.order = undefined;
      this.entries.set(key, entry);
    }
    for (const key of removed) {
      old.push(this.entries.get(key)!);
      this.entries.delete(key);
      this.order = undefined;
    }
    for (const e of old) for (const k of e.endpoints) this.release(k);

    // Affinity groups that lost an endpoint, compared by id as the full recompute does.
    for (const e of old) for (const [id] of e.affinity) this.affinity.delete(id);
    for (const key of next.keys()) for (const [id, eps] of this.entries.get(key)!.affinity) this.affinity.set(id, eps);
    const shrunk = old.flatMap((e) => e.affinity.filter(([id, before]) => [...before].some((ep) => !this.affinity.get(id)?.has(ep))).map(([id]) => id));
    this.cache = undefined;
    this.sortedPlans = undefined;
    return { changed: recompute.size + removed.size, shrunk: [...new Set(shrunk)] };
  }

  /** Every ServiceLB and EndpointDNAT flow (the same objects while their Service is unchanged). */
  flows(): Flow[] {
    return this.result().flows;
  }

  groups(): Group[] {
    return this.result().groups;
  }

  /** Every planned Service port, sorted by key (built when asked: flow records and Traceflow look ports up). */
  plans(): ServicePortPlan[] {
    this.sortedPlans ??= [...this.entries.values()].flatMap((e) => e.plans).sort(byKey);
    return this.sortedPlans;
  }

  private result(): Realized {
    if (this.cache) return this.cache;
    this.order ??= [...this.entries.keys()].sort();
    const flows: Flow[] = [];
    const groups: Group[] = [];
    for (const key of this.order) {
      const e = this.entries.get(key)!;
      for (const f of e.flows) flows.push(f);
      for (const g of e.groups) groups.push(g);
    }
    for (const d of this.dnat.values()) flows.push(d.flow);
    return (this.cache = { flows, groups });
  }

  private build(svc: InventoryService, slices: readonly InventoryEndpointSlice[], plans: ServicePortPlan[], keys: string[]): ServiceEntry {
    const entry: ServiceEntry = { svc, slices, scan: this.scans, plans, groupKeys: keys, flows: [], groups: [], endpoints: [], affinity: [] };
    const endpoints = new Map<string, EndpointTarget>();
    for (const p of plans) {
      const port = servicePortFlows(p, this.groupIds, this.pipeline, this.cookies);
      entry.flows.push(...port.flows);
      entry.groups.push(...port.groups);
      for (const ep of port.endpoints) endpoints.set(ep.key, ep);
      if (!p.affinitySeconds) continue;
      entry.affinity.push([this.groupIds.get(p.key)!, new Set(p.clusterEndpoints.map((e) => `${e.ip}:${e.port}`))]);
      if (p.nodePort) entry.affinity.push([this.groupIds.get(`${p.key}/nodePort`)!, new Set(p.nodePortEndpoints.map((e) => `${e.ip}:${e.port}`))]);
    }
    for (const ep of endpoints.values()) {
      const d = this.dnat.get(ep.key);
      if (d) d.refs++;
      else this.dnat.set(ep.key, { flow: endpointDNATFlow(ep, this.pipeline, this.cookies), refs: 1 });
      entry.endpoints.push(ep.key);
    }
    return entry;
  }

  private release(endpoint: string): void {
    const d = this.dnat.get(endpoint);
    if (d && --d.refs === 0) this.dnat.delete(endpoint);
  }

  private countHash(groupKey: string, delta: 1 | -1): void {
    const h = groupIdOf(groupKey);
    const before = this.hashCounts.get(h) ?? 0;
    const after = before + delta;
    if (after) this.hashCounts.set(h, after);
    else this.hashCounts.delete(h);
    if (before <= 1 && after > 1) this.collisions++;
    if (before > 1 && after <= 1) this.collisions--;
  }
}
