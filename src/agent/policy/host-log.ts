// np.log lines for host rules with enableLogging: their packets come from the NFLOG group the
// host firewall's logged lines send to (prefix = the rule's tag), read while such rules exist.
// Same fields as the OVS rules' lines (log.ts), with the iptables chain as the table, no
// OpenFlow priority (<nil>) and the node as the applied-to reference:
//   <time> SEINE-POL-INGRESS-RULES AntreaClusterNetworkPolicy:<name> <rule> Ingress Drop <nil> <node>
//   <src-ip> <src-port> <dst-ip> <dst-port> TCP <length> <log-label>
import { NflogGroup, summarizeIPv4, type NflogPacket } from '../../lib/netlink/nflog.js';
import { createLogger } from '../../lib/log.js';
import type { HostRule } from '../../policy/compute/host.js';
import { HOST_NFLOG_GROUP } from './host-firewall.js';
import { logField, policyReference, type LogFields, type PolicyLogger } from './log.js';

const log = createLogger('policy/host');
const NIL = '<nil>';
const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** The np.log fields of one logged packet of a host rule. */
export function hostLogFields(p: NflogPacket, rule: HostRule, node: string): LogFields | undefined {
  const s = summarizeIPv4(p.payload);
  if (!s) return undefined;
  const protocol = PROTOCOLS[s.protocol] ?? String(s.protocol);
  const ports = s.srcPort !== undefined && s.dstPort !== undefined;
  const chain = `SEINE-POL-${rule.direction === 'ingress' ? 'INGRESS' : 'EGRESS'}-${rule.baseline ? 'BASELINE' : 'RULES'}`;
  const fields = [
    chain, logField(policyReference(rule)), logField(rule.ruleName), rule.direction === 'ingress' ? 'Ingress' : 'Egress', rule.action, NIL, logField(node),
    s.src, ports ? String(s.srcPort) : NIL, s.dst, ports ? String(s.dstPort) : NIL, protocol, String(s.length), logField(rule.logLabel),
  ];
  return { text: fields.join(' '), key: [rule.id, s.src, s.dst, protocol, ports ? s.dstPort : ''].join('|'), src: s.src, dst: s.dst, protocol };
}

/** Reads the NFLOG group while logged host rules exist; each packet becomes an np.log line. */
export class HostLogReader {
  private group?: NflogGroup;
  private timer?: NodeJS.Timeout;
  private rules = new Map<string, HostRule>();

  constructor(private readonly opts: { node: string; npLog: PolicyLogger; intervalMs?: number }) {}

  /** The rules by their NFLOG prefix (tag); the group is bound while any is logged. */
  update(byTag: ReadonlyMap<string, HostRule>): void {
    this.rules = new Map([...byTag].filter(([, r]) => r.enableLogging));
    if (this.rules.size && !this.group) this.start();
    else if (!this.rules.size && this.group) this.stop();
  }

  private start(): void {
    try {
      this.group = NflogGroup.open(HOST_NFLOG_GROUP);
    } catch (err) {
      log.error({ err, group: HOST_NFLOG_GROUP }, 'host rule logging unavailable: cannot bind the NFLOG group');
      return;
    }
    this.timer = setInterval(() => this.poll(), this.opts.intervalMs ?? 250);
    this.timer.unref();
  }

  private poll(): void {
    if (!this.group) return;
    let packets: NflogPacket[];
    try {
      packets = this.group.poll();
    } catch (err) {
      log.warn({ err }, 'NFLOG read failed');
      return;
    }
    for (const p of packets) {
      const rule = this.rules.get(p.prefix);
      const f = rule && hostLogFields(p, rule, this.opts.node);
      if (rule && f) this.opts.npLog.logLine(f, { rule });
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.poll(); // what arrived since the last tick
    this.group?.close();
    this.group = undefined;
  }
}
