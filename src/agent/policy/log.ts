// Policy logging (enableLogging): one np.log line per logged packet-in, in Antrea's current
// format (docs/antrea-network-policy.md):
//   <yyyy/mm/dd> <time> <ovs-table-name> <policy-reference> <rule-name> <direction> <action>
//   <openflow-priority> <applied-to-reference> <src-ip> <src-port> <dst-ip> <dst-port>
//   <protocol> <packet-length> <log-label>
// K8s policies have no rule name (<nil>). Denied packets of one flow repeat (nothing is
// committed, every retransmission comes back): as Antrea, duplicates within 1 s are folded
// into one "[N packets in D]" line written when the window closes. The file rotates by size,
// keeping N old files (np.log.1 newest), like Antrea's lumberjack defaults.
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { RealizedRule } from './flows.js';
import type { PolicyPacketIn } from './userdata.js';

const NIL = '<nil>';

// Free text (rule names, policy and pod names, log labels) must stay one space-separated field
// on one line: whitespace, control and format characters, and the backslash itself, are written
// as \xHH (\u{H…} above 0xff), so a name cannot add fields or forge a whole line.
const UNSAFE = /[\s\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
export function logField(text: string | undefined): string {
  if (!text) return NIL;
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** What a log line names of its rule: an OVS rule's RealizedRule, or a host rule (host-log.ts). */
export interface LoggedRule {
  rule: Pick<RealizedRule['rule'], 'policy' | 'ruleName' | 'action' | 'direction'>;
}

export interface PolicyLogRecord {
  line: string;
  rule: LoggedRule;
  src: string;
  dst: string;
  protocol: string;
}

/** A line's fields after the timestamp, and what identifies its flow for folding repeats. */
export interface LogFields {
  text: string;
  key: string;
  src: string;
  dst: string;
  protocol: string;
}

export interface PolicyLoggerOptions {
  /** Directory of np.log (`<stateDir>/networkpolicy`). */
  dir: string;
  maxBytes?: number;
  maxFiles?: number;
  dedupMs?: number;
  now?: () => Date;
  /** Called for each line written (events to the controller). */
  onRecord?: (r: PolicyLogRecord) => void;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** `2020/11/02 22:21:21.148395` in local time, as Go's log package with Lmicroseconds. */
export function logTimestamp(d: Date): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds() * 1000, 6)}`;
}

export function policyReference(r: Pick<RealizedRule['rule'], 'policy'>): string {
  return `${r.policy.kind}:${r.policy.namespace ? `${r.policy.namespace}/` : ''}${r.policy.name}`;
}

/** The fields after the timestamp, for one packet-in of a realized rule. */
export function logFields(ev: PacketInEvent, rule: RealizedRule): LogFields {
  const r = rule.rule;
  const p = ev.packet;
  const src = p.nwSrc ?? NIL;
  const dst = p.nwDst ?? NIL;
  const local = r.direction === 'ingress' ? dst : src;
  const appliedTo = logField(r.targets.find((t) => t.ip === local)?.key);
  const protocol = p.protocol === 'ip' ? (p.fields.nw_proto ?? NIL) : p.protocol.toUpperCase();
  const ports = p.tpSrc !== undefined && p.tpDst !== undefined && protocol !== 'ICMP';
  const ipLen = ev.raw && ev.raw.length >= 18 ? ev.raw.readUInt16BE(16) : Math.max(0, ev.totalLen - 14);
  const fields = [
    rule.table, logField(policyReference(r)), r.layer === 'k8s' ? NIL : logField(r.ruleName), r.direction === 'ingress' ? 'Ingress' : 'Egress',
    r.action, String(rule.priority), appliedTo, src, ports ? String(p.tpSrc) : NIL, dst, ports ? String(p.tpDst) : NIL,
    logField(protocol), String(ipLen), logField(r.logLabel),
  ];
  return { text: fields.join(' '), key: [r.id, src, dst, protocol, ports ? p.tpDst : ''].join('|'), src, dst, protocol };
}

export class PolicyLogger {
  readonly file: string;
  private size: number;
  private readonly dedup = new Map<string, { first: number; count: number; text: string; timer: NodeJS.Timeout }>();

  constructor(private readonly opts: PolicyLoggerOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.file = path.join(opts.dir, 'np.log');
    this.size = existsSync(this.file) ? statSync(this.file).size : 0;
  }

  /** Logs a packet-in of `rule`; `u` only matters for future operations. */
  log(ev: PacketInEvent, rule: RealizedRule, _u?: PolicyPacketIn): void {
    this.logLine(logFields(ev, rule), rule);
  }

  /** Logs one line of prepared fields (a packet of a host rule: host-log.ts); denied repeats fold as above. */
  logLine(f: LogFields, rule: LoggedRule): void {
    const now = this.now();
    const denied = rule.rule.action !== 'Allow' && rule.rule.action !== 'Pass';
    const seen = denied ? this.dedup.get(f.key) : undefined;
    if (seen) {
      seen.count++;
      return;
    }
    this.write(`${logTimestamp(now)} ${f.text}`, rule, f);
    if (!denied) return;
    const entry = {
      first: now.getTime(), count: 1, text: f.text,
      timer: setTimeout(() => {
        this.dedup.delete(f.key);
        if (entry.count > 1) {
          const secs = (this.now().getTime() - entry.first) / 1000;
          this.write(`${logTimestamp(this.now())} ${entry.text} [${entry.count} packets in ${secs}s]`, rule, f);
        }
      }, this.opts.dedupMs ?? 1000),
    };
    entry.timer.unref();
    this.dedup.set(f.key, entry);
  }

  close(): void {
    for (const e of this.dedup.values()) clearTimeout(e.timer);
    this.dedup.clear();
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private write(line: string, rule: LoggedRule, f: { src: string; dst: string; protocol: string }): void {
    const data = `${line}\n`;
    if (this.size > 0 && this.size + data.length > (this.opts.maxBytes ?? 100 * 1024 * 1024)) this.rotate();
    appendFileSync(this.file, data);
    this.size += Buffer.byteLength(data);
    this.opts.onRecord?.({ line, rule, src: f.src, dst: f.dst, protocol: f.protocol });
  }

  /** np.log → np.log.1 → … → np.log.<maxFiles>, the oldest dropped. */
  private rotate(): void {
    const keep = this.opts.maxFiles ?? 3;
    rmSync(`${this.file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    if (keep > 0) renameSync(this.file, `${this.file}.1`);
    else rmSync(this.file, { force: true });
    this.size = 0;
  }
}
