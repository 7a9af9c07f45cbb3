// The flow exporter's poll loop: every pollInterval it reads the conntrack source (pod zone)
// and the denied-connection counters, updates the connection tracker, turns the records due
// into enriched FlowRecords and hands each poll's batch to the sinks (the SQLite store, IPFIX,
// the outbox). A poll never overlaps the previous one; a failed sink is logged and the next
// poll goes on (records already in other sinks stay there).
import type { FlowRecord } from '../../api/flow-record.js';
import { parseCIDR } from '../../api/net.js';
import { createLogger } from '../../lib/log.js';
import type { InventorySource } from '../../api/inventory.js';
import type { RealizedRule } from '../policy/flows.js';
import { LearnedKind, type LearnedCounter } from './accounting.js';
import { connectionKey, type ConntrackEntry, type ConntrackSource } from './conntrack.js';
import { EndpointIndex, endpointFields, labelPolicies, ruleFields, type PolicyFields } from './enrich.js';
import type { StoredRecord } from './store.js';
import { ConnectionTracker, type DueRecord } from './tracker.js';
import { RuleActionCode, PolicyTypeCode } from '../../api/flow-record.js';

const log = createLogger('flows');

export interface FlowExporterOptions {
  source: ConntrackSource;
  zone: number;
  /** Per-connection counters of denied packets (DenyAccounting), when the pipeline has them. */
  denied?: () => Promise<LearnedCounter[]>;
  inventory: Pick<InventorySource, 'snapshot'>;
  rule: (conjId: number) => RealizedRule | undefined;
  serviceCIDR?: string;
  /** The Service port (`namespace/name:port`) behind a cluster IP, port and IP protocol number (src/agent/service). */
  servicePortName?: (clusterIP: string, port: number, protocol: number) => string | undefined;
  pollIntervalMs?: number;
  activeTimeoutS?: number;
  idleTimeoutS?: number;
  sinks: ((batch: StoredRecord[]) => Promise<void>)[];
  now?: () => number;
}

export interface ExporterStats {
  polls: number;
  lastPollMs: number;
  records: number;
  /** Denied connections (5-tuple and rule) seen since start; Antrea's denied_connection_count. */
  deniedConnectionsTotal: number;
  /** Connections in the pod zone at the last poll. */
  zoneConnections: number;
  /** Where the last poll's time went, ms: reading the source, tracking, enrichment + validation, sinks. */
  lastPhasesMs: { read: number; track: number; enrich: number; sinks: number };
  errors: number;
}

export class FlowExporter {
  readonly tracker: ConnectionTracker;
  readonly stats: ExporterStats = { polls: 0, lastPollMs: 0, records: 0, deniedConnectionsTotal: 0, zoneConnections: 0, lastPhasesMs: { read: 0, track: 0, enrich: 0, sinks: 0 }, errors: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  /** Why the last poll failed ('' after a good one). */
  private lastError = '';
  private index?: EndpointIndex;
  private readonly service?: { network: number; mask: number };
  private pollIntervalMs: number;
  /** Set by a NodeConfig with flowExporter.enable false: no polls until enabled again. */
  private paused = false;
  private polling = false;

  constructor(private readonly opts: FlowExporterOptions) {
    this.tracker = new ConnectionTracker({ activeTimeoutS: opts.activeTimeoutS ?? 5, idleTimeoutS: opts.idleTimeoutS ?? 15 });
    this.pollIntervalMs = opts.pollIntervalMs ?? 5000;
    const svc = opts.serviceCIDR ? parseCIDR(opts.serviceCIDR) : undefined;
    if (svc?.family === 4) {
      const mask = svc.prefixLength === 0 ? 0 : (0xffffffff << (32 - svc.prefixLength)) >>> 0;
      this.service = { network: (Number(svc.network) & mask) >>> 0, mask };
    }
  }

  get pollInterval(): number {
    return this.pollIntervalMs;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Live settings (a NodeConfig): the poll timer is re-armed with the new interval at once (not
   * after the old one runs out); the tracker takes the new timeouts from its next poll.
   */
  reconfigure(o: { pollIntervalMs: number; activeTimeoutS: number; idleTimeoutS: number; paused: boolean }): void {
    this.tracker.setTimeouts({ activeTimeoutS: o.activeTimeoutS, idleTimeoutS: o.idleTimeoutS });
    const changed = o.pollIntervalMs !== this.pollIntervalMs || o.paused !== this.paused;
    this.pollIntervalMs = o.pollIntervalMs;
    this.paused = o.paused;
    // A poll in flight re-arms the timer itself when it ends; an idle wait is cut short here.
    if (changed && !this.polling && !this.stopped) {
      clearTimeout(this.timer);
      this.timer = this.paused ? undefined : setTimeout(this.tick, this.pollIntervalMs);
    }
  }

  start(): void {
    this.tick();
  }

  private readonly tick = (): void => {
    {
      if (this.stopped) return;
      this.timer = undefined;
      this.polling = true;
      this.running = this.pollOnce().then(() => {
        if (this.lastError) log.info({ after: this.lastError }, 'flow polls work again');
        this.lastError = '';
      }, (err) => {
        this.stats.errors++;
        // A box without the conntrack tool would say so every poll: say it once, and again only when the reason changes.
        const msg = err instanceof Error ? err.message : String(err);
        if (msg !== this.lastError) log.warn({ err }, 'flow poll failed (logged again only when the reason changes)');
        this.lastError = msg;
      }).finally(() => {
        this.polling = false;
        if (!this.stopped && !this.paused) this.timer = setTimeout(this.tick, this.pollIntervalMs);
      });
    }
  };

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One poll: read, track, enrich, write. Returns the batch it wrote. */
  async pollOnce(): Promise<StoredRecord[]> {
    const t0 = performance.now();
    const [entries, denied] = await Promise.all([this.opts.source.dump(this.opts.zone), this.opts.denied?.() ?? Promise.resolve([])]);
    const t1 = performance.now();
    const nowS = Math.floor((this.opts.now?.() ?? Date.now()) / 1000);
    const byKey = new Map<string, ConntrackEntry>();
    for (const e of entries) byKey.set(connectionKey(e), e);
    for (const d of denied) byKey.set(`deny|${d.kind}|${d.conjId}|${d.key}`, deniedEntry(d, nowS, this.opts.zone));
    const due = this.tracker.observe(byKey, nowS);
    const t2 = performance.now();
    const snapshot = this.opts.inventory.snapshot();
    if (this.index?.inventory !== snapshot) this.index = new EndpointIndex(snapshot);
    const batch: StoredRecord[] = [];
    // Records are built complete and typed here (no zod pass per record: 10k records cost
    // ~0.5 s in the first poll of a busy box); an IPv6 entry (no IPv4 template fields) is the
    // one shape checked, as the schema would.
    for (const d of due) {
      const rec = this.record(d);
      // A ':' marks an IPv6 text address: it must not land in the IPv4 template fields.
      if (!rec.sourceIPv4Address || !rec.destinationIPv4Address || rec.sourceIPv4Address.includes(':') || rec.destinationIPv4Address.includes(':')) {
        log.debug({ key: d.conn.key }, 'flow record skipped: not IPv4');
        continue;
      }
      batch.push({ connKey: d.conn.key, record: rec });
    }
    const t3 = performance.now();
    for (const sink of this.opts.sinks) {
      try {
        await sink(batch);
      } catch (err) {
        this.stats.errors++;
        log.warn({ err, records: batch.length }, 'flow sink failed');
      }
    }
    this.stats.polls++;
    this.stats.records += batch.length;
    this.stats.zoneConnections = entries.length;
    this.stats.deniedConnectionsTotal += due.filter((d) => d.first && (d.conn.entry as DeniedEntry).denied).length;
    const t4 = performance.now();
    this.stats.lastPollMs = t4 - t0;
    this.stats.lastPhasesMs = { read: t1 - t0, track: t2 - t1, enrich: t3 - t2, sinks: t4 - t3 };
    return batch;
  }

  /** A due connection as a complete FlowRecord, built as one object literal of a fixed shape (fast to make and to store). */
  record(d: DueRecord): FlowRecord {
    const { conn, delta } = d;
    const e = conn.entry;
    const natted = e.reply.src !== e.orig.dst;
    const dstIP = natted ? e.reply.src : e.orig.dst;
    const src = this.index!.lookup(e.orig.src);
    const dst = this.index!.lookup(dstIP);
    const denied = (e as DeniedEntry).denied;
    const p: PolicyFields = denied ? deniedPolicies(denied, this.opts.rule) : labelPolicies(e.labels, this.opts.rule);
    const ep = endpointFields(src, dst);
    const service = natted && this.inService(e.orig.dst);
    const r: FlowRecord = {
      flowStartSeconds: conn.startSeconds,
      flowEndSeconds: d.nowSeconds,
      flowEndReason: d.reason,
      sourceIPv4Address: e.orig.src,
      destinationIPv4Address: dstIP,
      sourceTransportPort: e.orig.sport,
      destinationTransportPort: natted ? e.reply.sport : e.orig.dport,
      protocolIdentifier: e.protocol,
      packetTotalCount: conn.totals.packets,
      octetTotalCount: conn.totals.octets,
      packetDeltaCount: delta.packets,
      octetDeltaCount: delta.octets,
      reversePacketTotalCount: conn.totals.reversePackets,
      reverseOctetTotalCount: conn.totals.reverseOctets,
      reversePacketDeltaCount: delta.reversePackets,
      reverseOctetDeltaCount: delta.reverseOctets,
      sourcePodNamespace: ep.sourcePodNamespace ?? '',
      sourcePodName: ep.sourcePodName ?? '',
      sourceNodeName: ep.sourceNodeName ?? '',
      destinationPodNamespace: ep.destinationPodNamespace ?? '',
      destinationPodName: ep.destinationPodName ?? '',
      destinationNodeName: ep.destinationNodeName ?? '',
      destinationServicePort: service ? e.orig.dport : 0,
      destinationServicePortName: service ? (this.opts.servicePortName?.(e.orig.dst, e.orig.dport, e.protocol) ?? '') : '',
      ingressNetworkPolicyName: p.ingressNetworkPolicyName ?? '',
      ingressNetworkPolicyNamespace: p.ingressNetworkPolicyNamespace ?? '',
      ingressNetworkPolicyType: p.ingressNetworkPolicyType ?? 0,
      ingressNetworkPolicyRuleName: p.ingressNetworkPolicyRuleName ?? '',
      ingressNetworkPolicyRuleAction: p.ingressNetworkPolicyRuleAction ?? 0,
      egressNetworkPolicyName: p.egressNetworkPolicyName ?? '',
      egressNetworkPolicyNamespace: p.egressNetworkPolicyNamespace ?? '',
      egressNetworkPolicyType: p.egressNetworkPolicyType ?? 0,
      egressNetworkPolicyRuleName: p.egressNetworkPolicyRuleName ?? '',
      egressNetworkPolicyRuleAction: p.egressNetworkPolicyRuleAction ?? 0,
      tcpState: e.tcpState,
      flowType: ep.flowType,
    };
    if (service) r.destinationClusterIPv4 = e.orig.dst;
    return r;
  }

  /** In the Service CIDR: a mask compare per record (a cache keyed by destination grew with every address ever seen). */
  private inService(ip: string): boolean {
    const s = this.service;
    if (!s) return false;
    const v = ipv4Number(ip);
    return v !== undefined && (v & s.mask) >>> 0 === s.network;
  }
}

/** A dotted IPv4 address as an unsigned 32-bit number; undefined for anything else. */
function ipv4Number(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

interface DeniedEntry extends ConntrackEntry {
  denied: { kind: number; conjId: number };
}

/** A denied connection's counter as an entry (no conntrack entry exists: nothing was committed). */
function deniedEntry(d: LearnedCounter, nowS: number, zone: number): DeniedEntry {
  return {
    protocol: d.protocol,
    orig: { src: d.src, dst: d.dst, sport: d.sport, dport: d.dport },
    reply: { src: d.dst, dst: d.src, sport: d.dport, dport: d.sport },
    zone, mark: 0, labels: 0n, tcpState: '',
    counters: { packets: d.packets, octets: d.octets, reversePackets: 0, reverseOctets: 0 },
    startSeconds: nowS - Math.floor(d.durationS),
    denied: { kind: d.kind, conjId: d.conjId },
  };
}

/** The rule that denied (from the counter's cookie), or K8s isolation (Antrea reports action Drop, no policy name). */
function deniedPolicies(d: { kind: number; conjId: number }, rule: (conjId: number) => RealizedRule | undefined): PolicyFields {
  if (d.kind === LearnedKind.DeniedByRule) {
    const r = rule(d.conjId);
    return r ? ruleFields(r.rule) : {};
  }
  if (d.kind === LearnedKind.IsolatedIngress) return { ingressNetworkPolicyType: PolicyTypeCode.K8sNetworkPolicy, ingressNetworkPolicyRuleAction: RuleActionCode.Drop };
  if (d.kind === LearnedKind.IsolatedEgress) return { egressNetworkPolicyType: PolicyTypeCode.K8sNetworkPolicy, egressNetworkPolicyRuleAction: RuleActionCode.Drop };
  return {};
}
