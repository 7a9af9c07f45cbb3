// Box-to-box latency (Antrea's NodeLatencyMonitor): while the controller's NodeLatencyMonitor
// exists, the agent sends a probe to each peer's underlay address every pingIntervalSeconds and
// keeps the last round trip per peer, reported as Antrea's NodeLatencyStats shape.
//
// Why UDP and not ICMP: Node has no ICMP socket, and a ping child process per probe would break
// the agent's no-processes steady state. Each agent answers probes itself on UDP port
// LATENCY_PORT of its underlay address, and only to known peers (the inventory's node IPs,
// from that same port): the reply is the request with one byte flipped, the same size, so the
// echo amplifies nothing and reflects only towards boxes of the fleet. The RTT is measured on the
// sender's own monotonic clock (hrtime carried in the probe and echoed back): no clock sync.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { NodeLatencyReport, PeerNodeLatencyStats } from '../../api/node-config.js';
import { NodeLatencyMonitorSpecSchema } from '../../api/node-config.js';
import type { DesiredObject } from '../../api/node-state.js';
import { createLogger } from '../../lib/log.js';
import type { RealizeOutcome, Realizer, RealizerRegistry } from '../sync/realizers.js';

const log = createLogger('agent.latency');

/** The probes' UDP port on every box's underlay address (next to Antrea's agent API, 10350). */
export const LATENCY_PORT = 10356;
const MAGIC = 0x534e4c4d; // 'SNLM'
export const PROBE_BYTES = 24;
const REQUEST = 1;
const REPLY = 2;

export interface LatencyPeer {
  name: string;
  underlayIP: string;
}

interface PeerStats {
  lastSendTime?: Date;
  lastRecvTime?: Date;
  rttNs?: bigint;
  /** The probe in flight: its sequence number (a reply must carry it). */
  pending?: number;
}

export class LatencyMonitor implements Realizer {
  private sockets: dgram.Socket[] = [];
  private timer?: NodeJS.Timeout;
  private intervalS = 0;
  private seq = 0;
  private readonly stats = new Map<string, PeerStats>();
  /** Probes answered and probes refused (unknown source or malformed), since start. */
  readonly counters = { answered: 0, refused: 0, replies: 0 };

  constructor(private readonly o: {
    peers: () => readonly LatencyPeer[];
    /** The box's own underlay address (the sockets bind to it; absent: every address). */
    ownIP?: string | undefined;
    /** Called after each round and when the monitor stops (undefined: nothing to report). */
    report: (r: NodeLatencyReport | undefined) => void;
    port?: number;
  }) {}

  register(realizers: RealizerRegistry): void {
    realizers.registerRealizer({ kind: 'NodeLatencyMonitor', group: 'crd.antrea.io' }, this);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    const [first] = [...objects];
    if (!first) {
      await this.stop();
      return new Map();
    }
    const spec = NodeLatencyMonitorSpecSchema.parse(first[1].spec);
    await this.start(spec.pingIntervalSeconds);
    return new Map([...objects.keys()].map((k) => [k, { ok: true } as const]));
  }

  /** Round trips per peer in force (seconds), for the agent's metrics. */
  rtts(): { peer: string; targetIP: string; seconds: number }[] {
    const out: { peer: string; targetIP: string; seconds: number }[] = [];
    if (!this.running) return out;
    for (const p of this.o.peers()) {
      const s = this.stats.get(p.underlayIP);
      if (s?.rttNs !== undefined) out.push({ peer: p.name, targetIP: p.underlayIP, seconds: Number(s.rttNs) / 1e9 });
    }
    return out;
  }

  async start(intervalS: number): Promise<void> {
    if (!this.sockets.length) await this.open();
    if (this.timer && intervalS === this.intervalS) return;
    clearInterval(this.timer);
    this.intervalS = intervalS;
    this.timer = setInterval(() => this.round(), intervalS * 1000);
    this.timer.unref();
    log.info({ intervalS, port: this.port }, 'node latency monitor started');
    this.round();
  }

  async stop(): Promise<void> {
    const was = this.running;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stats.clear();
    for (const s of this.sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
    if (was) log.info('node latency monitor stopped');
    this.o.report(undefined);
  }

  private get port(): number {
    return this.o.port ?? LATENCY_PORT;
  }

  private async open(): Promise<void> {
    const addresses = this.o.ownIP ? [this.o.ownIP] : ['0.0.0.0'];
    for (const address of addresses) {
      const socket = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
      socket.on('message', (msg, rinfo) => this.onMessage(socket, msg, rinfo));
      socket.on('error', (err) => log.warn({ err }, 'latency probe socket error'));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(this.port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      this.sockets.push(socket);
    }
  }

  /** One probe to every peer; the report carries what the previous rounds measured. */
  private round(): void {
    const peers = this.o.peers();
    const known = new Set(peers.map((p) => p.underlayIP));
    for (const ip of this.stats.keys()) if (!known.has(ip)) this.stats.delete(ip);
    const socket = this.sockets[0];
    if (!socket) return;
    for (const p of peers) {
      const s = this.stats.get(p.underlayIP) ?? {};
      this.stats.set(p.underlayIP, s);
      const seq = (this.seq = (this.seq + 1) >>> 0);
      const probe = Buffer.alloc(PROBE_BYTES);
      probe.writeUInt32BE(MAGIC, 0);
      probe.writeUInt8(REQUEST, 4);
      probe.writeUInt32BE(seq, 8);
      probe.writeBigUInt64BE(process.hrtime.bigint(), 12);
      s.pending = seq;
      s.lastSendTime = new Date();
      socket.send(probe, this.port, p.underlayIP, (err) => err && log.debug({ err, peer: p.name }, 'latency probe not sent'));
    }
    this.o.report(this.report(peers));
  }

  private onMessage(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // Only our own format, from a peer's underlay address and our port: anything else is dropped unanswered.
    const peer = this.o.peers().find((p) => p.underlayIP === rinfo.address);
    if (msg.length !== PROBE_BYTES || msg.readUInt32BE(0) !== MAGIC || rinfo.port !== this.port || !peer) {
      this.counters.refused++;
      return;
    }
    const type = msg.readUInt8(4);
    if (type === REQUEST) {
      msg.writeUInt8(REPLY, 4);
      this.counters.answered++;
      socket.send(msg, rinfo.port, rinfo.address);
      return;
    }
    const s = this.stats.get(rinfo.address);
    if (type !== REPLY || !s || s.pending !== msg.readUInt32BE(8)) return;
    s.pending = undefined;
    s.rttNs = process.hrtime.bigint() - msg.readBigUInt64BE(12);
    s.lastRecvTime = new Date();
    this.counters.replies++;
  }

  private report(peers: readonly LatencyPeer[]): NodeLatencyReport {
    const peerNodeLatencyStats: PeerNodeLatencyStats[] = peers.map((p) => {
      const s = this.stats.get(p.underlayIP) ?? {};
      return {
        nodeName: p.name,
        targetIPLatencyStats: [{
          targetIP: p.underlayIP,
          ...(s.lastSendTime ? { lastSendTime: s.lastSendTime.toISOString() } : {}),
          ...(s.lastRecvTime ? { lastRecvTime: s.lastRecvTime.toISOString() } : {}),
          ...(s.rttNs !== undefined ? { lastMeasuredRTTNanoseconds: Number(s.rttNs) } : {}),
        }],
      };
    });
    return { peerNodeLatencyStats };
  }
}
