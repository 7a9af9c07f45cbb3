// Packet-ins (Traceflow observations, Reject, policy logging) from a long-lived
// `ovs-ofctl monitor <mgmt> 65534 -P nxt_packet_in2` child. NXT_PACKET_IN2 is the format that
// carries the controller action's userdata. ovs-ofctl prints each message as a header line,
// indented property lines (userdata, continuation), then the packet as a flow string; those
// blocks are parsed into typed events. The child is restarted with backoff if it dies, and
// `start()` resolves only once a probe packet sent through the switch came back, so no
// packet-in is missed by a caller that acts right after start.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import { Backoff } from '../../lib/backoff.js';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { processRef, stopProcesses, type ProcessRef } from '../../lib/process.js';

const log = createLogger('ovs/packet-in');

export interface ParsedPacket {
  /** First token of the flow string: icmp, tcp, udp, arp, ip, ipv6, … */
  protocol: string;
  /** Every field=value of the packet line. */
  fields: Record<string, string>;
  dlSrc?: string;
  dlDst?: string;
  nwSrc?: string;
  nwDst?: string;
  nwTtl?: number;
  /** IP DSCP (nw_tos >> 2): carries the Traceflow tag. */
  dscp?: number;
  tpSrc?: number;
  tpDst?: number;
  icmpType?: number;
  icmpCode?: number;
  tcpFlags?: string;
}

export interface PacketInEvent {
  tableId: number;
  cookie: bigint;
  /** action, no_match, invalid_ttl, action_set, group, packet_out */
  reason: string;
  totalLen: number;
  inPort: number | string;
  /** Pipeline fields OVS attaches (reg0=0x5, ct_state=…, tun_id=…). */
  metadata: Record<string, string>;
  userdata?: Buffer;
  packet: ParsedPacket;
  /** The frame's bytes (up to data_len), when the monitor runs with `raw` (ovs-ofctl --more hex dump). */
  raw?: Buffer;
}

const HEADER = /^(NXT_PACKET_IN2|NXT_PACKET_IN|OFPT_PACKET_IN) \(OF[\d.x]+\) \(xid=0x[0-9a-f]+\): (.*)$/;
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

const HEX_LINE = /^[0-9a-f]{8} {2}((?:[0-9a-f]{2}[ -]?)+)/;

/**
 * Turns ovs-ofctl monitor output lines into events; one instance per output stream. With `raw`
 * (the monitor runs with --more) the packet line is followed by a hex dump of data_len bytes,
 * collected before the event is emitted: Reject needs the TCP sequence numbers and the IP header
 * the flow string leaves out.
 */
export class PacketInParser {
  private head?: string;
  private props: string[] = [];
  private pending?: { ev: PacketInEvent; want: number; bytes: number[] };

  constructor(private readonly opts: { raw?: boolean } = {}) {}

  push(line: string): PacketInEvent | undefined {
    if (this.pending) {
      const m = HEX_LINE.exec(line);
      if (m) {
        for (const b of m[1].trim().split(/[ -]+/)) this.pending.bytes.push(parseInt(b, 16));
        if (this.pending.bytes.length < this.pending.want) return undefined;
      }
      const done = this.pending;
      this.pending = undefined;
      done.ev.raw = Buffer.from(done.bytes.slice(0, done.want));
      if (m) return done.ev;
      // A dump cut short (should not happen): emit what we have, then handle this line.
      const next = this.push(line);
      return next ?? done.ev;
    }
    const h = HEADER.exec(line);
    if (h) {
      this.head = h[2];
      this.props = [];
      return undefined;
    }
    if (this.head === undefined) return undefined; // other messages, log lines
    if (/^\s/.test(line)) {
      this.props.push(line.trim());
      return undefined;
    }
    const ev = buildEvent(this.head, this.props, line);
    const want = Number(/data_len=(\d+)/.exec(this.head)?.[1] ?? 0);
    this.head = undefined;
    if (this.opts.raw && want > 0) {
      this.pending = { ev, want, bytes: [] };
      return undefined;
    }
    return ev;
  }
}

function buildEvent(head: string, props: string[], packetLine: string): PacketInEvent {
  const metaTok = head.split(' ').find((t) => t.includes('in_port=')) ?? '';
  const metadata = Object.fromEntries(metaTok.split(',').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
  const inPortRaw = metadata.in_port ?? '';
  delete metadata.in_port;
  const ud = props.map((p) => /^userdata=([0-9a-f.]+)$/i.exec(p)).find(Boolean);
  return {
    tableId: Number(/table_id=(\d+)/.exec(head)?.[1] ?? 0),
    cookie: BigInt(/cookie=(0x[0-9a-f]+)/.exec(head)?.[1] ?? 0),
    reason: /\(via (\w+)\)/.exec(head)?.[1] ?? 'unknown',
    totalLen: Number(/total_len=(\d+)/.exec(head)?.[1] ?? 0),
    inPort: /^\d+$/.test(inPortRaw) ? Number(inPortRaw) : inPortRaw,
    metadata,
    userdata: ud ? Buffer.from(ud[1].replace(/\./g, ''), 'hex') : undefined,
    packet: parsePacketLine(packetLine),
  };
}

/** `icmp,vlan_tci=0x0000,dl_src=…,nw_tos=4,…,icmp_code=0 icmp_csum:4d56` → typed packet. */
export function parsePacketLine(line: string): ParsedPacket {
  const flowPart = line.trim().split(' ')[0];
  const fields: Record<string, string> = {};
  let protocol = '';
  for (const tok of flowPart.split(',')) {
    const eq = tok.indexOf('=');
    if (eq < 0) protocol ||= tok;
    else fields[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
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
  mgmt: string;
  rundir?: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Also capture each packet's bytes (PacketInEvent.raw). */
  raw?: boolean;
}

// Userdata of our readiness probes: "SEINEPROBE" + 4 random bytes. Every monitor drops any
// packet-in carrying the prefix, so probes of one agent never reach another's consumers.
const PROBE_PREFIX = Buffer.from('SEINEPROBE');

/** Emits 'packetIn' (PacketInEvent), 'restart' after the child was restarted and is ready again. */
export class PacketInMonitor extends EventEmitter {
  private child?: ChildProcess;
  private ref?: ProcessRef;
  private stopping = false;
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
  private readonly env: NodeJS.ProcessEnv;
  private readonly probe = Buffer.concat([PROBE_PREFIX, randomBytes(4)]);
  private probeSeen = false;
  private lastError = '';
  private restartTimer?: NodeJS.Timeout;

  constructor(private readonly opts: PacketInMonitorOptions) {
    super();
    this.env = { ...(opts.env ?? process.env), OVS_RUNDIR: opts.rundir ?? path.dirname(opts.mgmt.replace(/^unix:/, '')) };
  }

  /** Starts the monitor child; resolves once it demonstrably receives packet-ins. */
  async start(): Promise<void> {
    this.stopping = false;
    this.spawnChild();
    await this.waitReady(this.opts.readyTimeoutMs ?? 5000);
  }

  /** PID of the current ovs-ofctl child (for diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.ref) await stopProcesses([this.ref], 1000);
    this.child = undefined;
    this.ref = undefined;
  }

  private spawnChild(): void {
    const child = spawn('ovs-ofctl', ['-O', 'OpenFlow15', 'monitor', this.opts.mgmt, '65534', '-P', 'nxt_packet_in2', ...(this.opts.raw ? ['--more'] : [])], {
      env: { ...this.env, PATH: `${this.env.PATH ?? ''}:/usr/sbin:/sbin` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.probeSeen = false;
    try {
      if (child.pid) this.ref = processRef(child.pid);
    } catch {
      /* exited already; the exit handler restarts it */
    }
    // ovs-ofctl prints received messages on stderr (and some versions on stdout): read both.
    for (const stream of [child.stdout!, child.stderr!]) {
      const parser = new PacketInParser({ raw: this.opts.raw });
      readline.createInterface({ input: stream }).on('line', (line) => {
        if (/\|(ERR|WARN|EMER)\|/.test(line) || line.startsWith('ovs-ofctl:')) this.lastError = line;
        const ev = parser.push(line);
        if (!ev) return;
        if (ev.userdata?.subarray(0, PROBE_PREFIX.length).equals(PROBE_PREFIX)) {
          if (ev.userdata.equals(this.probe)) this.probeSeen = true;
          return;
        }
        this.emit('packetIn', ev);
      });
    }
    child.on('error', (err) => (this.lastError = err.message));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.ref = undefined;
      if (this.stopping) return;
      const delay = this.backoff.next();
      log.warn({ code, signal, lastError: this.lastError, delay }, 'packet-in monitor exited; restarting');
      this.restartTimer = setTimeout(() => {
        if (this.stopping) return;
        this.spawnChild();
        this.waitReady(10_000).then(
          () => {
            this.backoff.reset();
            this.emit('restart');
          },
          (err: Error) => log.warn({ err: err.message }, 'packet-in monitor not ready after restart'),
        );
      }, delay);
    });
  }

  /** Sends probe packet-outs until one comes back through this monitor. */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // An Ethernet frame of the local-experimental ethertype: no flow treats it as traffic.
    const frame = 'ffffffffffff02000000000188b5' + this.probe.toString('hex');
    const userdata = [...this.probe].map((b) => b.toString(16).padStart(2, '0')).join('.');
    while (!this.probeSeen) {
      if (this.stopping) throw new Error('packet-in monitor stopped');
      if (Date.now() > deadline) throw new Error(`packet-in monitor on ${this.opts.mgmt} not ready after ${timeoutMs} ms${this.lastError ? `: ${this.lastError}` : ''}`);
      await run('ovs-ofctl', ['-O', 'OpenFlow15', 'packet-out', this.opts.mgmt, `in_port=controller packet=${frame} actions=controller(userdata=${userdata})`], { env: this.env, allowFailure: true });
      for (let i = 0; i < 10 && !this.probeSeen; i++) await new Promise((r) => setTimeout(r, 20));
    }
  }
}
