// Packet-ins (Traceflow observations, Reject, policy logging) from the bridge's OpenFlow
// connection: NXT_PACKET_IN2, the format that carries the controller action's userdata,
// decoded into typed events — pipeline fields from the metadata TLVs, packet fields from the
// frame itself. `start()` resolves only once a probe sent through the switch came back, so no
// packet-in is missed by a caller that acts right after start; after the connection was lost
// and is back (it re-asks for packet-ins itself), a new probe confirms it and 'restart' is emitted.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import type { OfMessage } from '../../lib/openflow/header.js';
import { OFPP, OFPT } from '../../lib/openflow/header.js';
import { formatOxmValue, formatPort } from '../../lib/openflow/oxm.js';
import { decodePacketIn2, isPacketIn2, type PacketIn2 } from '../../lib/openflow/packet-in2.js';
import { controllerAction, encodePacketOut } from '../../lib/openflow/packet-out.js';
import { acquireConnection, type SharedConnection } from '../../lib/openflow/shared.js';
import { parseFrame, type ParsedPacket } from './packet-fields.js';

export type { ParsedPacket };

const log = createLogger('ovs/packet-in');

export interface PacketInEvent {
  tableId: number;
  cookie: bigint;
  /** action, no_match, invalid_ttl, action_set, group, packet_out */
  reason: string;
  totalLen: number;
  inPort: number | string;
  /** Pipeline fields OVS attaches, as it prints them (reg0=0x5, ct_state=new|trk, tun_dst=…). */
  metadata: Record<string, string>;
  userdata?: Buffer;
  packet: ParsedPacket;
  /** The frame's bytes as OVS sent them (all of it: the connection asks for unbuffered packet-ins). */
  raw?: Buffer;
}

/** A decoded NXT_PACKET_IN2 as the agent's event. */
export function packetInEvent(pin: PacketIn2): PacketInEvent {
  const metadata: Record<string, string> = {};
  let inPort: number | string = 0;
  for (const f of pin.metadata) {
    if (f.name === 'in_port') inPort = formatPort(f.value);
    else metadata[f.name] = formatOxmValue(f);
  }
  return {
    tableId: pin.tableId,
    cookie: pin.cookie ?? 0n,
    reason: pin.reason,
    totalLen: pin.fullLen,
    inPort,
    metadata,
    ...(pin.userdata ? { userdata: Buffer.from(pin.userdata) } : {}),
    packet: parseFrame(pin.packet),
    raw: Buffer.from(pin.packet), // a copy: the message buffer holds the whole read
  };
}

/** `icmp,vlan_tci=0x0000,dl_src=…,nw_tos=4,…,icmp_code=0 icmp_csum:4d56` → typed packet (tests, debugging). */
export function parsePacketLine(line: string): ParsedPacket {
  const flowPart = line.trim().split(' ')[0]!;
  const fields: Record<string, string> = {};
  let protocol = '';
  for (const tok of flowPart.split(',')) {
    const eq = tok.indexOf('=');
    if (eq < 0) protocol ||= tok;
    else fields[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const tos = num(fields.nw_tos);
  return {
    protocol,
    fields,
    dlSrc: fields.dl_src,
    dlDst: fields.dl_dst,
    nwSrc: fields.nw_src ?? fields.arp_spa ?? fields.ipv6_src,
    nwDst: fields.nw_dst ?? fields.arp_tpa ?? fields.ipv6_dst,
    nwTtl: num(fields.nw_ttl),
    dscp: tos === undefined ? undefined : tos >> 2,
    tpSrc: num(fields.tp_src),
    tpDst: num(fields.tp_dst),
    icmpType: num(fields.icmp_type ?? fields.icmpv6_type),
    icmpCode: num(fields.icmp_code ?? fields.icmpv6_code),
    tcpFlags: fields.tcp_flags,
  };
}

export interface PacketInMonitorOptions {
  /** The bridge's management socket, `unix:<rundir>/<bridge>.mgmt`. */
  mgmt: string;
  readyTimeoutMs?: number;
}

// Userdata of our readiness probes: "SEINEPROBE" + 4 random bytes. Every monitor drops any
// packet-in carrying the prefix, so probes of one agent never reach another's consumers.
const PROBE_PREFIX = Buffer.from('SEINEPROBE');

/** Emits 'packetIn' (PacketInEvent); 'restart' when packet-ins flow again after a lost connection. */
export class PacketInMonitor extends EventEmitter {
  private shared?: SharedConnection;
  private stopping = false;
  private readonly probe = Buffer.concat([PROBE_PREFIX, randomBytes(4)]);
  private probeSeen = false;
  private readonly onMessage = (m: OfMessage) => this.handle(m);
  private readonly onReconnected = () => {
    this.waitReady(10_000).then(
      () => this.emit('restart'),
      (err: Error) => log.warn({ err: err.message }, 'packet-ins not flowing after reconnect'),
    );
  };

  constructor(private readonly opts: PacketInMonitorOptions) {
    super();
  }

  /** Attaches to the bridge's connection; resolves once it demonstrably receives packet-ins. */
  async start(): Promise<void> {
    this.stopping = false;
    this.shared = await acquireConnection(this.opts.mgmt);
    this.shared.conn.on('message', this.onMessage);
    this.shared.conn.on('reconnected', this.onReconnected);
    await this.waitReady(this.opts.readyTimeoutMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const s = this.shared;
    this.shared = undefined;
    if (!s) return;
    s.conn.off('message', this.onMessage);
    s.conn.off('reconnected', this.onReconnected);
    await s.release();
  }

  private handle(m: OfMessage): void {
    if (!isPacketIn2(m)) return;
    let ev: PacketInEvent;
    try {
      ev = packetInEvent(decodePacketIn2(m.body));
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'undecodable NXT_PACKET_IN2; skipped');
      return;
    }
    if (ev.userdata?.subarray(0, PROBE_PREFIX.length).equals(PROBE_PREFIX)) {
      if (ev.userdata.equals(this.probe)) this.probeSeen = true;
      return;
    }
    this.emit('packetIn', ev);
  }

  /** Sends probe packet-outs until one comes back as a packet-in. */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // An Ethernet frame of the local-experimental ethertype: no flow treats it as traffic.
    const frame = Buffer.concat([Buffer.from('ffffffffffff02000000000188b5', 'hex'), this.probe]);
    const msg = encodePacketOut({ inPort: OFPP.CONTROLLER, actions: controllerAction(this.probe), packet: frame });
    let lastError = '';
    this.probeSeen = false;
    while (!this.probeSeen) {
      if (this.stopping || !this.shared) throw new Error('packet-in monitor stopped');
      if (Date.now() > deadline) throw new Error(`packet-in monitor on ${this.opts.mgmt} not ready after ${timeoutMs} ms${lastError ? `: ${lastError}` : ''}`);
      await this.shared.conn.send(OFPT.PACKET_OUT, msg, { what: 'packet-in probe' }).catch((err: Error) => (lastError = err.message));
      for (let i = 0; i < 10 && !this.probeSeen; i++) await new Promise((r) => setTimeout(r, 20));
    }
  }
}
