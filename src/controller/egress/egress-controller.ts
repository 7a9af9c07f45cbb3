// Egress on the controller: before each publication it allocates IPs and picks egress nodes
// (allocate.ts) from the stored Egresses and ExternalIPPools, the nodes' MQTT liveness and their
// reported labels, and selects the pods from the reported inventories. Each node's desired
// document then carries every Egress with its decision; pools stay on the controller. A node
// going offline (its last will) republishes, which moves its IPs to other eligible nodes.
import type { Condition } from '../../api/meta.js';
import { objectKey, type DesiredObject, type NodeReported } from '../../api/node-state.js';
import type { EgressAssignment, EgressSpec, ExternalIPPool } from '../../api/egress.js';
import { createLogger } from '../../lib/log.js';
import { selectorMatches } from '../../policy/compute/selector.js';
import type { DesiredDocumentBuilder } from '../sync/desired-publisher.js';
import type { NodeRegistry } from '../store/nodes.js';
import type { ObjectStore, StoredRecord } from '../store/objects.js';
import type { SqlDatabase } from '../../lib/sqlite.js';
import { allocateEgresses, type Allocation, type EgressDecision, type Previous } from './allocate.js';
import { EgressAssignmentTable } from './assignment-table.js';

const log = createLogger('controller.egress');

/** How long a restarted controller waits for a box to reconnect before moving its egress IPs. */
export const STARTUP_GRACE_MS = 15_000;

const EGRESS = 'Egress';
const POOL = 'ExternalIPPool';
const isEgress = (r: Pick<StoredRecord, 'kind'>) => r.kind.kind === EGRESS && r.kind.group === 'crd.antrea.io';
const isPool = (r: Pick<StoredRecord, 'kind'>) => r.kind.kind === POOL && r.kind.group === 'crd.antrea.io';

type Inventory = NodeReported['inventory'];

/** Pod IPs selected by an Egress's appliedTo across the fleet; an empty appliedTo selects nothing. */
export function selectEgressPods(appliedTo: EgressSpec['appliedTo'], inventories: ReadonlyMap<string, Inventory>): string[] {
  const { podSelector, namespaceSelector } = appliedTo;
  if (!podSelector && !namespaceSelector) return [];
  const ips: string[] = [];
  for (const inv of inventories.values()) {
    for (const p of inv.pods) {
      if (podSelector && !selectorMatches(podSelector, p.labels)) continue;
      if (namespaceSelector && !selectorMatches(namespaceSelector, inv.namespaces?.[p.namespace] ?? {})) continue;
      ips.push(...p.ips.filter((ip) => !ip.includes(':')));
    }
  }
  return [...new Set(ips)].sort();
}

export class EgressController {
  private allocation: Allocation = { decisions: new Map(), pools: new Map() };
  private podIPs = new Map<string, string[]>();
  private previous: { ips: Map<string, string>; nodes: Map<string, string> };
  private lastSaved: string;

  private readonly unsubscribe: () => void;
  private onMove: () => void = () => undefined;
  /** Nodes whose presence changed since start: their online flag is news, not the start-up default. */
  private readonly heard = new Set<string>();
  private readonly graceUntil: number;
  private readonly graceTimer: NodeJS.Timeout;

  private constructor(private readonly store: ObjectStore, private readonly nodes: NodeRegistry, private readonly table: EgressAssignmentTable, previous: Previous, graceMs: number) {
    this.previous = { ips: new Map(previous.ips), nodes: new Map(previous.nodes) };
    this.lastSaved = JSON.stringify([...this.previous.ips, ...this.previous.nodes]);
    // A node coming or going (MQTT last will) may move egress IPs, and a node's report may
    // change the pods selected or its labels: both need a new decision when Egresses exist.
    this.unsubscribe = nodes.onChange((node, what) => {
      if (what === 'presence' || what === 'removed') this.heard.add(node);
      if ((what === 'presence' || what === 'report' || what === 'removed') && this.allocation.decisions.size) this.onMove();
    });
    this.graceUntil = Date.now() + graceMs;
    this.graceTimer = setTimeout(() => this.onMove(), graceMs);
    this.graceTimer.unref();
  }

  /**
   * Loads the last decisions (IP per Egress, node per IP). For `graceMs` after start a node the
   * controller has not heard from yet keeps its IPs: every node starts offline in a restarted
   * controller, and the first box to reconnect must not collect everyone's IPs.
   */
  static async open(db: SqlDatabase, store: ObjectStore, nodes: NodeRegistry, graceMs = STARTUP_GRACE_MS): Promise<EgressController> {
    const table = await EgressAssignmentTable.open(db);
    return new EgressController(store, nodes, table, await table.load(), graceMs);
  }

  /** `republish` runs when liveness or reports may change a decision. */
  onMoves(republish: () => void): void {
    this.onMove = republish;
  }

  stop(): void {
    this.unsubscribe();
    clearTimeout(this.graceTimer);
  }

  /**
   * Recomputes every decision (runs before each publication); false when there is nothing to
   * decide (no Egress, no pool). `stored`: the store's objects as the caller just read them (else they are read here).
   */
  async refresh(stored?: readonly StoredRecord[]): Promise<boolean> {
    const records = stored ?? (await this.store.list());
    const egresses = records.filter(isEgress);
    const pools = records.filter(isPool);
    if (!egresses.length && !pools.length && !this.allocation.decisions.size) return false;
    // A disabled node holds no Egress IP (a deleted one is not listed at all).
    const [nodes, reports] = await Promise.all([this.nodes.list().then((l) => l.filter((n) => !n.disabled)), this.nodes.reports()]);
    const inventories = new Map([...reports].map(([n, r]) => [n, r.inventory]));
    const allocation = allocateEgresses(
      egresses.map((r) => ({ key: objectKey(r), name: r.name, spec: r.spec as EgressSpec })),
      pools.map((r) => ({ name: r.name, spec: r.spec as ExternalIPPool['spec'] })),
      nodes.map((n) => ({ name: n.name, online: n.online, labels: { 'kubernetes.io/hostname': n.name, ...(inventories.get(n.name)?.nodeLabels ?? {}) } })),
      this.previous satisfies Previous,
      new Set(Date.now() < this.graceUntil ? nodes.filter((n) => !n.online && !this.heard.has(n.name)).map((n) => n.name) : []),
    );
    for (const [key, d] of allocation.decisions) {
      const before = this.allocation.decisions.get(key);
      if (before?.egressNode !== d.egressNode || before?.egressIP !== d.egressIP) log.info({ egress: key, egressIP: d.egressIP, egressNode: d.egressNode, was: before?.egressNode, error: d.allocationError ?? d.assignmentError }, 'egress assignment');
    }
    this.allocation = allocation;
    this.podIPs = new Map(egresses.map((r) => [objectKey(r), selectEgressPods((r.spec as EgressSpec).appliedTo, inventories)]));
    // Remember what holds now; an Egress that is gone frees its IP.
    const ips = new Map<string, string>();
    const holders = new Map(this.previous.nodes);
    for (const [key, d] of allocation.decisions) {
      if (d.egressIP) ips.set(key, d.egressIP);
      if (d.egressIP && d.egressNode) holders.set(d.egressIP, d.egressNode);
    }
    for (const ip of holders.keys()) if (![...ips.values()].includes(ip)) holders.delete(ip);
    this.previous = { ips, nodes: holders };
    const text = JSON.stringify([...ips, ...holders]);
    if (text !== this.lastSaved) {
      await this.table.save(this.previous);
      this.lastSaved = text;
    }
    return true;
  }

  /** Wraps a document builder: Egresses get their decision, pools stay here. */
  decorate(build: DesiredDocumentBuilder): DesiredDocumentBuilder {
    return (node, objects, nodes) => {
      const doc = build(node, objects, nodes);
      for (const o of objects) {
        const key = objectKey(o);
        if (isPool(o)) delete doc[key];
        else if (isEgress(o) && doc[key]) doc[key] = { ...doc[key], egress: this.assignment(key) } satisfies DesiredObject;
      }
      return doc;
    };
  }

  private assignment(key: string): EgressAssignment {
    const d: EgressDecision = this.allocation.decisions.get(key) ?? { assignmentError: 'not allocated yet' };
    const reason = d.allocationError ? `${d.allocationError.field}: ${d.allocationError.message}` : d.assignmentError;
    return {
      ...(d.egressIP ? { egressIP: d.egressIP } : {}),
      ...(d.egressNode ? { egressNode: d.egressNode } : {}),
      podIPs: this.podIPs.get(key) ?? [],
      ...(reason ? { reason } : {}),
    };
  }

  /** Status fields of an Egress (Antrea's: egressNode, egressIP, IPAllocated/IPAssigned) or an ExternalIPPool (usage). */
  status(record: StoredRecord): Record<string, unknown> | undefined {
    if (isPool(record)) {
      const p = this.allocation.pools.get(record.name);
      if (!p) return undefined;
      if ('error' in p) return { conditions: [{ type: 'Valid', status: 'False', reason: 'InvalidRange', message: `${p.error.field}: ${p.error.message}` }] };
      return { usage: { total: p.total, used: p.used } };
    }
    if (!isEgress(record)) return undefined;
    const d = this.allocation.decisions.get(objectKey(record));
    if (!d) return undefined;
    const conditions: Condition[] = [
      d.allocationError
        ? { type: 'IPAllocated', status: 'False', reason: 'AllocationError', message: `${d.allocationError.field}: ${d.allocationError.message}` }
        : { type: 'IPAllocated', status: 'True', reason: 'Allocated', message: `EgressIP is successfully allocated` },
    ];
    if (d.egressIP) {
      conditions.push(d.egressNode
        ? { type: 'IPAssigned', status: 'True', reason: 'Assigned', message: `EgressIP is successfully assigned to EgressNode` }
        : { type: 'IPAssigned', status: 'False', reason: 'AssignmentError', message: d.assignmentError ?? 'no egress node' });
    }
    return { ...(d.egressNode ? { egressNode: d.egressNode } : {}), ...(d.egressIP ? { egressIP: d.egressIP } : {}), conditions };
  }
}
