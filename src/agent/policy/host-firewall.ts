// The host firewall in the box's iptables (filter table): Antrea's NodeNetworkPolicy datapath
// (pkg/agent/route/route_linux.go, node_reconciler_linux.go) with Seine's own chains, replaced
// together by one `iptables-restore --noflush` (atomic: the kernel swaps the whole table), so a
// change or an agent restart never leaves a moment where the box is open or closed. Nothing is
// flushed at start: the rules a previous agent left keep enforcing until the persisted desired
// state is realized again, and counters of unchanged lines are carried over (`-c`).
//
//   INPUT  → SEINE-HOST-INPUT:  established/related, loopback, the overlay's own packets (tunnel,
//                               WireGuard: exemptions) → ACCEPT; → SEINE-POL-INGRESS-RULES
//   OUTPUT → SEINE-HOST-OUTPUT: established/related, loopback, the overlay's own packets, the
//                               controller and the k3s API server (exemptions) → ACCEPT;
//                               → SEINE-POL-EGRESS-RULES
//   SEINE-POL-<DIR>-RULES: rules of every tier but baseline in order, then goto the baseline chain;
//                          Pass = goto SEINE-POL-<DIR>-BASELINE (no K8s NetworkPolicy on a host)
//
// No ipsets: a rule becomes one line per (peer CIDR × port), all sharing the rule's comment tag,
// which the stats sum. A logged rule's lines are each preceded by the same match with
// `-j NFLOG` (prefix: the tag), which the agent reads for np.log (host-log.ts); Antrea uses
// `-j LOG` (kernel log), which a network namespace other than the host's does not even write.
// Every value in a line comes from HostRuleSchema / HostExemptionSchema.
import { createHash } from 'node:crypto';
import { HostExemptionSchema, HostRuleSchema, isOverlayExemption, type HostExemption, type HostRuleSpec } from '../../api/host-policy.js';
import type { RuleStats } from './stats.js';
import type { HostRule } from '../../policy/compute/host.js';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { policyKey } from '../../policy/compute/drafts.js';

const log = createLogger('policy/host');

/** The NFLOG group logged host rules send packets to (per network namespace; host-log.ts reads it). */
export const HOST_NFLOG_GROUP = 1029;
export const HOST_INPUT_CHAIN = 'SEINE-HOST-INPUT';
export const HOST_OUTPUT_CHAIN = 'SEINE-HOST-OUTPUT';
const RULES = { ingress: 'SEINE-POL-INGRESS-RULES', egress: 'SEINE-POL-EGRESS-RULES' } as const;
const BASELINE = { ingress: 'SEINE-POL-INGRESS-BASELINE', egress: 'SEINE-POL-EGRESS-BASELINE' } as const;
const CHAINS = [HOST_INPUT_CHAIN, HOST_OUTPUT_CHAIN, RULES.ingress, BASELINE.ingress, RULES.egress, BASELINE.egress];
const OWN_CHAIN = new Set(CHAINS);

/** The realized form of a host rule: the schema's fields, from the computed rule. */
export function hostRuleSpec(r: HostRule): HostRuleSpec {
  const spec: HostRuleSpec = {
    id: r.id, policy: policyKey(r.policy), direction: r.direction, ruleIndex: r.ruleIndex, action: r.action, baseline: r.baseline, log: r.enableLogging,
  };
  if (r.cidrs) spec.cidrs = r.cidrs;
  if (r.services) spec.services = r.services;
  return HostRuleSchema.parse(spec);
}

/** The tag a rule's lines carry in their comment: changes with the rule's content, so counters restart when a rule changes (as its flows would). */
export function ruleTag(spec: HostRuleSpec): string {
  return `seine-${createHash('sha1').update(JSON.stringify(spec)).digest('hex').slice(0, 12)}`;
}

export interface HostPlan {
  /** iptables-restore input (without counters). */
  lines: string[];
  /** Comment tag → the rule its lines count for. */
  tags: Map<string, HostRule>;
}

/** The whole filter-table state of Seine's chains for these rules and exemptions (pure). */
export function hostFirewallPlan(rules: readonly HostRule[], exemptions: readonly HostExemption[]): HostPlan {
  const lines = ['*filter', ...CHAINS.map((c) => `:${c} - [0:0]`), ...CHAINS.map((c) => `-F ${c}`)];
  for (const [chain, dir] of [[HOST_INPUT_CHAIN, 'ingress'], [HOST_OUTPUT_CHAIN, 'egress']] as const) {
    lines.push(`-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "seine: established and related" -j ACCEPT`);
    lines.push(`-A ${chain} ${dir === 'ingress' ? '-i' : '-o'} lo -m comment --comment "seine: loopback" -j ACCEPT`);
    for (const e of exemptions.map((x) => HostExemptionSchema.parse(x))) {
      let match: string;
      if (isOverlayExemption(e)) {
        match = `${e.device ? ` ${dir === 'ingress' ? '-i' : '-o'} ${e.device}` : ''} -p ${e.protocol}${e.port ? ` -m ${e.protocol} --dport ${e.port}` : ''}`;
      } else if (dir === 'egress') {
        match = ` -d ${e.ip}/32 -p tcp${e.port ? ` -m tcp --dport ${e.port}` : ''}`;
      } else continue;
      lines.push(`-A ${chain}${match} -m comment --comment "seine: ${e.what}" -j ACCEPT`);
    }
    lines.push(`-A ${chain} -j ${RULES[dir]}`);
  }
  const tags = new Map<string, HostRule>();
  const tail: string[] = [];
  for (const r of rules) {
    const spec = hostRuleSpec(r);
    const tag = ruleTag(spec);
    tags.set(tag, r);
    const chain = spec.baseline ? BASELINE[spec.direction] : RULES[spec.direction];
    const comment = `-m comment --comment "${tag} ${spec.policy} ${spec.direction}[${spec.ruleIndex}]"`;
    const peers = spec.cidrs ?? [undefined];
    const services: (Service | undefined)[] = spec.services ?? [undefined];
    for (const cidr of peers) {
      for (const svc of services) {
        const addr = cidr ? ` ${spec.direction === 'ingress' ? '-s' : '-d'} ${cidr}` : '';
        for (const [proto, target] of targets(spec, svc)) {
          const match = `-A ${chain}${addr}${proto}`;
          if (spec.log) tail.push(`${match} -j NFLOG --nflog-group ${HOST_NFLOG_GROUP} --nflog-prefix "${tag}"`);
          tail.push(`${match} ${comment} ${target}`);
        }
      }
    }
  }
  lines.push(...tail);
  for (const dir of ['ingress', 'egress'] as const) lines.push(`-A ${RULES[dir]} -g ${BASELINE[dir]}`);
  lines.push('COMMIT', '');
  return { lines, tags };
}

type Service = NonNullable<HostRuleSpec['services']>[number];

/** Protocol match and target per line: Reject without a protocol answers TCP with a RST, the rest with ICMP. */
function targets(spec: HostRuleSpec, svc: Service | undefined): [string, string][] {
  const proto = protoMatch(svc);
  switch (spec.action) {
    case 'Allow': return [[proto, '-j ACCEPT']];
    case 'Drop': return [[proto, '-j DROP']];
    case 'Pass': return [[proto, spec.baseline ? '-j RETURN' : `-g ${BASELINE[spec.direction]}`]];
    case 'Reject':
      if (!svc) return [[' -p tcp', '-j REJECT --reject-with tcp-reset'], ['', '-j REJECT --reject-with icmp-host-prohibited']];
      return [[proto, svc.protocol === 'TCP' ? '-j REJECT --reject-with tcp-reset' : '-j REJECT --reject-with icmp-host-prohibited']];
  }
}

function protoMatch(svc: Service | undefined): string {
  if (!svc) return '';
  if (svc.protocol === 'ICMP') {
    if (svc.icmpType === undefined) return ' -p icmp';
    return ` -p icmp -m icmp --icmp-type ${svc.icmpType}${svc.icmpCode !== undefined ? `/${svc.icmpCode}` : ''}`;
  }
  const p = svc.protocol.toLowerCase();
  if (svc.port === undefined) return ` -p ${p}`;
  return ` -p ${p} -m ${p} --dport ${svc.port}${svc.endPort !== undefined && svc.endPort !== svc.port ? `:${svc.endPort}` : ''}`;
}

/** Counters per comment tag of Seine's rule lines in `iptables-save -c` output. */
export function countersByTag(save: string): Map<string, { packets: number; bytes: number }> {
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const line of save.split('\n')) {
    const m = /^\[(\d+):(\d+)\] -A (\S+) .*--comment "?(seine-[0-9a-f]{12})[ "]/.exec(line);
    if (!m || !OWN_CHAIN.has(m[3]!)) continue;
    const c = out.get(m[4]!) ?? { packets: 0, bytes: 0 };
    c.packets += Number(m[1]);
    c.bytes += Number(m[2]);
    out.set(m[4]!, c);
  }
  return out;
}

/** Each saved line's counters, keyed by its tag and its position among the lines of that tag (to carry them into the new table). */
function countersByLine(save: string): Map<string, string> {
  const out = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const line of save.split('\n')) {
    const m = /^(\[\d+:\d+\]) -A (\S+) .*--comment "?(seine-[0-9a-f]{12})[ "]/.exec(line);
    if (!m || !OWN_CHAIN.has(m[2]!)) continue;
    const n = seen.get(m[3]!) ?? 0;
    seen.set(m[3]!, n + 1);
    out.set(`${m[3]}#${n}`, m[1]!);
  }
  return out;
}

export interface HostFirewallOptions {
  /** Addresses kept reachable ahead of every rule (resolved when rules are applied). */
  exemptions: () => Promise<HostExemption[]>;
  /** The command runner (tests). */
  exec?: typeof run;
}

/** The box's host firewall: applies host rules, reads their counters. */
export class HostFirewall {
  private last?: string;
  private tags = new Map<string, HostRule>();
  private hooked = false;
  private present?: boolean;
  private readonly exec: typeof run;
  /** Told the rules by tag after each apply (the NFLOG reader follows the logged ones). */
  onRules?: (byTag: ReadonlyMap<string, HostRule>) => void;

  constructor(private readonly opts: HostFirewallOptions) {
    this.exec = opts.exec ?? run;
  }

  /** Makes Seine's chains hold exactly these rules. No rules and no chains yet: nothing is touched (a box without host policies never needs iptables). */
  async apply(rules: readonly HostRule[]): Promise<void> {
    if (!rules.length && this.last === undefined && !(await this.chainsPresent())) return;
    const plan = hostFirewallPlan(rules, rules.length ? await this.opts.exemptions() : []);
    const text = plan.lines.join('\n');
    if (text === this.last) {
      this.tags = plan.tags;
      this.onRules?.(this.tags);
      return;
    }
    // Counters of lines that stay the same (same rule content, same position in it) are carried over.
    const saved = countersByLine(await this.save());
    const seen = new Map<string, number>();
    const input = plan.lines.map((l) => {
      const tag = / --comment "(seine-[0-9a-f]{12}) /.exec(l)?.[1];
      if (!tag || !l.startsWith('-A ')) return l;
      const n = seen.get(tag) ?? 0;
      seen.set(tag, n + 1);
      const c = saved.get(`${tag}#${n}`);
      return c ? `${c} ${l}` : l;
    }).join('\n');
    await this.exec('iptables-restore', ['-w', '5', '--noflush', '--counters'], { input });
    if (!this.hooked) await this.hook();
    this.last = text;
    this.tags = plan.tags;
    this.present = true;
    this.onRules?.(this.tags);
    log.info({ rules: rules.length, lines: plan.lines.length }, 'host firewall set');
  }

  /** Per-rule counters. Every packet reaching a rule is a connection's first (established ones are accepted ahead): sessions = packets. */
  async stats(): Promise<RuleStats[]> {
    if (!this.tags.size) return [];
    const counters = countersByTag(await this.save());
    const out: RuleStats[] = [];
    for (const [tag, r] of this.tags) {
      const c = counters.get(tag) ?? { packets: 0, bytes: 0 };
      out.push({ ruleId: r.id, policy: r.policy, ruleName: r.ruleName, direction: r.direction, action: r.action, conjId: 0, packets: c.packets, bytes: c.bytes, sessions: c.packets });
    }
    return out;
  }

  private async save(): Promise<string> {
    return (await this.exec('iptables-save', ['-c', '-t', 'filter'])).stdout;
  }

  /** The jumps from INPUT and OUTPUT, first in their chains (once per agent; kept across restarts). */
  private async hook(): Promise<void> {
    for (const [builtin, chain] of [['INPUT', HOST_INPUT_CHAIN], ['OUTPUT', HOST_OUTPUT_CHAIN]] as const) {
      const has = await this.exec('iptables', ['-w', '5', '-C', builtin, '-j', chain], { allowFailure: true });
      if (has.code !== 0) await this.exec('iptables', ['-w', '5', '-I', builtin, '1', '-j', chain]);
    }
    this.hooked = true;
  }

  /** Whether an earlier agent left Seine's chains (then they must be emptied even with no rules). */
  private async chainsPresent(): Promise<boolean> {
    if (this.present === undefined) {
      const r = await this.exec('iptables', ['-w', '5', '-S', RULES.ingress], { allowFailure: true }).catch(() => undefined);
      this.present = !!r && r.code === 0;
    }
    return this.present;
  }
}
