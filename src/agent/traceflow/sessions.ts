// The agent's Traceflow sessions, one per dataplane tag: start installs the tag's flows (and,
// on the sender, injects the crafted packet as if the source Pod sent it), the first tagged
// packet-in at a final decision point becomes this node's result and takes the flows away,
// collect hands the result to the controller. A session also ends on its own timeout, so a
// controller that went away never leaves flows behind. Tags are the controller's to allocate;
// a start with a tag in use replaces that session.
import type {
  TraceflowCapturedPacket, TraceflowCollectResult, TraceflowInject, TraceflowLive, TraceflowNodeResult, TraceflowResolveParams,
  TraceflowResolveResult, TraceflowStartParams, TraceflowStartResult,
} from '../../api/traceflow.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder } from '../../lib/phases.js';
import type { DerivedFlowFeature } from '../datapath.js';
import type { Inventory } from '../../api/inventory.js';
import type { LocalPod } from '../connectivity/flows.js';
import type { PacketOut } from '../ovs/bridge.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import { icmpEchoFrame, tcpSynFrame, udpFrame } from '../ovs/frame.js';
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { Pipeline } from '../ovs/pipeline.js';
import type { RealizedRule } from '../policy/flows.js';
import { traceflowFlows, type TraceSpec } from './flows.js';
import { observationsOf } from './observations.js';
import { resolveServiceDestination } from './service-destination.js';
import { decodeTraceUserdata } from './userdata.js';

const log = createLogger('traceflow');
/** A start request: the tag's flows in (a datapath sync), the datapath's flow cache purged, the packet out. */
const phases = phaseRecorder('agent.traceflow');
/**
 * How long a sender's start waits for its own observation of the packet it injected (it comes
 * within a moment: the packet-out runs the pipeline at once); past this the controller collects.
 */
export const START_RESULT_WAIT_MS = 250;

export interface TraceflowAgentOptions {
  node: string;
  pipeline: Pipeline;
  /** Converges the datapath (the tag flows are part of its desired set). */
  sync(): Promise<void>;
  /** Resolves once no cached datapath flow predates the new flow table (ovs/revalidate.ts). */
  revalidated(): Promise<void>;
  packetOut(p: PacketOut): Promise<void>;
  pods(): Promise<LocalPod[]>;
  gateway: { ofport: number; mac: string };
  tunnelPort?: number;
  /** With WireGuard: the peer box owning a pod IP (observations.ts). */
  wireGuardPeerOf?: (ip: string) => { name: string; underlayIP: string } | undefined;
  rule(conjId: number): RealizedRule | undefined;
  /** The box's view of Services and EndpointSlices (destination.service). */
  inventory(): Inventory;
}

interface Session {
  tag: number;
  role: TraceflowStartParams['role'];
  droppedOnly: boolean;
  live?: TraceSpec['live'];
  /** The traced packet as this node saw it (the controller reports it for live traffic). */
  capturedPacket?: TraceflowCapturedPacket;
  /** Flows installed (until the final observation or the timeout). */
  active: boolean;
  result?: TraceflowNodeResult;
  podByPort: Map<number, string>;
  timer: NodeJS.Timeout;
  waiters: (() => void)[];
}

export class TraceflowAgent implements DerivedFlowFeature {
  readonly name = 'traceflow';
  private readonly sessions = new Map<number, Session>();

  constructor(private readonly o: TraceflowAgentOptions) {}

  derivedFlows(all: readonly Flow[], pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
    const specs = [...this.sessions.values()].filter((s) => s.active).map((s): TraceSpec => ({ tag: s.tag, droppedOnly: s.droppedOnly, ...(s.live ? { live: s.live } : {}) }));
    return traceflowFlows(specs, all, pipeline, cookies);
  }

  get activeTags(): number[] {
    return [...this.sessions.values()].filter((s) => s.active).map((s) => s.tag);
  }

  async start(p: TraceflowStartParams): Promise<TraceflowStartResult> {
    const span = phases.begin({ tag: p.tag, role: p.role });
    this.end(p.tag);
    const pods = await this.o.pods();
    const live = p.live ? this.liveSource(p.live, pods) : undefined;
    const session: Session = {
      tag: p.tag, role: p.role, droppedOnly: p.droppedOnly ?? false, ...(live ? { live } : {}), active: true, podByPort: new Map(pods.map((x) => [x.ofport, x.key])), waiters: [],
      timer: setTimeout(() => this.end(p.tag), p.timeoutMs),
    };
    session.timer.unref();
    // Checked before anything is installed: a bad request leaves nothing behind.
    const out = p.inject ? this.injection(p.tag, p.inject, pods) : undefined;
    this.sessions.set(p.tag, session);
    span.mark('prepare');
    await this.o.sync();
    span.mark('sync');
    // Without this, a packet hitting a megaflow cached before the tag flows existed (after
    // conntrack, or from the tunnel) would pass every observation point unseen.
    await this.o.revalidated();
    span.mark('purge');
    if (out) await this.o.packetOut(out);
    span.mark('packetOut');
    // The sender's own observation goes back with this answer when it comes at once (not with
    // droppedOnly: a packet that is not dropped brings none, and the wait would only delay).
    if (out && !session.droppedOnly) await this.waitResult(session, START_RESULT_WAIT_MS);
    span.mark('ownResult');
    span.end();
    log.info({ tag: p.tag, role: p.role, injected: !!out, observed: !!session.result }, 'traceflow started');
    return { installed: true, injected: !!out, ...(session.result ? { result: session.result, ...(session.capturedPacket ? { capturedPacket: session.capturedPacket } : {}) } : {}) };
  }

  /** Resolves when the session has its result, ends, or after waitMs. */
  private waitResult(s: Session, waitMs: number): Promise<void> {
    if (s.result || waitMs <= 0 || this.sessions.get(s.tag) !== s) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, waitMs);
      s.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Waits up to waitMs for this node's result; a delivered result ends the session. */
  async collect(tag: number, waitMs: number): Promise<TraceflowCollectResult> {
    const s = this.sessions.get(tag);
    if (!s) return { done: false };
    await this.waitResult(s, waitMs);
    if (!s.result) return { done: false };
    if (this.sessions.get(tag) === s) this.end(tag);
    return { done: true, result: s.result, ...(s.capturedPacket ? { capturedPacket: s.capturedPacket } : {}) };
  }

  /** destination.service: the Service's ClusterIP, port and endpoints as this box balances them. */
  resolveService(p: TraceflowResolveParams): TraceflowResolveResult {
    return resolveServiceDestination(this.o.inventory(), this.o.node, p);
  }

  stop(tag: number): { stopped: boolean } {
    return { stopped: this.end(tag) };
  }

  /** Takes a packet-in; true when it was a Traceflow one. */
  onPacketIn(ev: PacketInEvent, now = Date.now()): boolean {
    const u = decodeTraceUserdata(ev.userdata);
    if (!u) return false;
    const s = this.sessions.get(u.tag);
    if (!s?.active || s.result) return true;
    const observations = observationsOf(ev, u.point, {
      tunnelPort: this.o.tunnelPort, gatewayPort: this.o.gateway.ofport, podByPort: s.podByPort,
      ...(this.o.wireGuardPeerOf ? { wireGuardPeerOf: this.o.wireGuardPeerOf } : {}),
      rule: (id) => this.o.rule(id), tableName: (id) => this.o.pipeline.nameOf(id),
    });
    s.result = { node: this.o.node, role: s.role, timestamp: Math.floor(now / 1000), observations };
    s.capturedPacket = capturedPacketOf(ev);
    s.active = false;
    for (const w of s.waiters.splice(0)) w();
    this.resync();
    log.info({ tag: u.tag, last: observations.at(-1) }, 'traceflow observed');
    return true;
  }

  private liveSource(live: TraceflowLive, pods: LocalPod[]): NonNullable<TraceSpec['live']> {
    const key = `${live.sourcePod.namespace}/${live.sourcePod.name}`;
    const src = pods.find((x) => x.key === key);
    if (!src) throw new Error(`source Pod ${key} has no port on node ${this.o.node}`);
    const { dstIP, protocol, srcPort, dstPort } = live;
    return { ofport: src.ofport, mac: src.mac, ip: src.ip, filter: { ...(dstIP ? { dstIP } : {}), ...(protocol ? { protocol } : {}), ...(srcPort ? { srcPort } : {}), ...(dstPort ? { dstPort } : {}) } };
  }

  private injection(tag: number, inj: TraceflowInject, pods: LocalPod[]): PacketOut {
    const key = `${inj.sourcePod.namespace}/${inj.sourcePod.name}`;
    const src = pods.find((x) => x.key === key);
    if (!src) throw new Error(`source Pod ${key} has no port on node ${this.o.node}`);
    const dstPod = pods.find((x) => x.ip === inj.dstIP);
    // A pod on this box is reached by its own MAC (same subnet); anything else through the gateway.
    const spec = { srcMac: src.mac, dstMac: dstPod?.mac ?? this.o.gateway.mac, srcIp: src.ip, dstIp: inj.dstIP, dscp: tag, ttl: inj.ttl ?? 64, ipId: tag };
    // Per-tag source ports and ids: two traceflows between the same pods are two connections.
    const ephemeral = 32768 + ((tag * 977 + (Date.now() & 0x3ff)) % 28000);
    const frame =
      inj.protocol === 'icmp' ? icmpEchoFrame({ ...spec, id: inj.icmpId ?? ephemeral, seq: inj.icmpSequence ?? 1 })
      : inj.protocol === 'tcp' ? tcpSynFrame({ ...spec, srcPort: inj.srcPort ?? ephemeral, dstPort: inj.dstPort ?? 80, flags: inj.tcpFlags ?? 0x02 })
      : udpFrame({ ...spec, srcPort: inj.srcPort ?? ephemeral, dstPort: inj.dstPort ?? 53 });
    return { inPort: src.ofport, packetHex: frame.toString('hex'), actions: ['resubmit(,0)'] };
  }

  /** Ends a session: its flows (if still there) and its result go. */
  private end(tag: number): boolean {
    const s = this.sessions.get(tag);
    if (!s) return false;
    clearTimeout(s.timer);
    const hadFlows = s.active;
    s.active = false;
    this.sessions.delete(tag);
    for (const w of s.waiters.splice(0)) w();
    if (hadFlows) this.resync();
    return true;
  }

  private resync(): void {
    this.o.sync().catch((err) => log.warn({ err }, 'datapath sync after a traceflow change failed'));
  }
}

const PROTOCOL_NUMBER: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

/** Antrea's capturedPacket from the packet-in's flow fields. */
export function capturedPacketOf(ev: PacketInEvent): TraceflowCapturedPacket {
  const p = ev.packet;
  const proto = PROTOCOL_NUMBER[p.protocol];
  const ports = { ...(p.tpSrc !== undefined ? { srcPort: p.tpSrc } : {}), ...(p.tpDst !== undefined ? { dstPort: p.tpDst } : {}) };
  const transportHeader = p.protocol === 'tcp' ? { tcp: ports } : p.protocol === 'udp' ? { udp: ports } : p.protocol === 'icmp' ? { icmp: {} } : undefined;
  return {
    ...(p.nwSrc ? { srcIP: p.nwSrc } : {}),
    ...(p.nwDst ? { dstIP: p.nwDst } : {}),
    length: ev.totalLen,
    ipHeader: { ...(proto !== undefined ? { protocol: proto } : {}), ...(p.nwTtl !== undefined ? { ttl: p.nwTtl } : {}) },
    ...(transportHeader ? { transportHeader } : {}),
  };
}
