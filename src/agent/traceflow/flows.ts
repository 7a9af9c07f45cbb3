// Traceflow as flows: for each active dataplane tag (IP DSCP), copies of the packet go to the
// agent at the decision points, tagged with userdata (userdata.ts). Like Antrea's flowsToTrace,
// the drop flows of the policy tables are copied with the tag added to their match, one
// priority above the original, so the tagged packet still gets the original's verdict and the
// agent learns which flow gave it; the registers at that point (reg3 conj id of the denying
// rule, reg5/reg6 of the allowing ones, reg1 the output port, tun_dst) tell the rest.
// Replies (ct_state +rpl) never match: a pod echoing the TOS of the traced packet back is not
// part of the trace.
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline, TableName } from '../ovs/pipeline.js';
import { reg0 } from '../connectivity/registers.js';
import { AP_DENY } from '../policy/registers.js';
import { PRIORITY_K8S_ISOLATION } from '../policy/priority.js';
import { TracePoint, encodeTraceUserdata, type TracePointValue } from './userdata.js';

/** The tag as OVS prints it in a match: DSCP shifted into nw_tos. */
export const tagMatch = (tag: number): string => `nw_tos=${tag << 2}`;

const toAgent = (tag: number, point: TracePointValue) => `controller(userdata=${encodeTraceUserdata(tag, point)})`;
const METRIC_TABLES = new Set<TableName>(['EgressMetric', 'IngressMetric']);
const DEFAULT_RULE_TABLES = new Set<TableName>(['EgressDefaultRule', 'IngressDefaultRule']);
const DENY_MATCH = `reg0=${AP_DENY}`;
const IP_PROTOCOLS = new Set(['ip', 'tcp', 'udp', 'icmp', 'sctp']);

/** Which flows of the rest of the pipeline end a packet's way by a policy decision. */
function denyPoint(f: Flow): TracePointValue | undefined {
  if (METRIC_TABLES.has(f.table) && f.match.includes(DENY_MATCH)) return TracePoint.PolicyDeny;
  // K8s isolation: a plain drop, or (with the flow exporter's deny accounting) per-protocol
  // variants at +0/+1 that count and never output; baseline rules sit lower and go on.
  const isolation = f.priority === PRIORITY_K8S_ISOLATION || f.priority === PRIORITY_K8S_ISOLATION + 1;
  if (DEFAULT_RULE_TABLES.has(f.table) && isolation && !f.actions.some((a) => /^(goto_table|resubmit|conjunction|output)/.test(a))) return TracePoint.Isolation;
  return undefined;
}

export interface TraceSpec {
  tag: number;
  /** Only drops send a copy (live traffic's droppedOnly). */
  droppedOnly?: boolean;
  /** Live traffic: the source Pod's untagged packets matching this get the tag in SpoofGuard. */
  live?: { ofport: number; mac: string; ip: string; filter: LiveFilter };
}

export interface LiveFilter {
  dstIP?: string;
  protocol?: 'icmp' | 'tcp' | 'udp';
  srcPort?: number;
  dstPort?: number;
}

/** The SpoofGuard match of a Pod's own packets narrowed by the filter; untagged ones only. */
export function liveMatch(live: NonNullable<TraceSpec['live']>): string[] {
  const f = live.filter;
  return [
    f.protocol ?? 'ip', `in_port=${live.ofport}`, `dl_src=${live.mac}`, `nw_src=${live.ip}`,
    ...(f.dstIP ? [`nw_dst=${f.dstIP}`] : []), 'nw_tos=0',
    ...(f.protocol !== 'icmp' && f.srcPort ? [`tp_src=${f.srcPort}`] : []),
    ...(f.protocol !== 'icmp' && f.dstPort ? [`tp_dst=${f.dstPort}`] : []),
  ];
}

export function traceflowFlows(specs: readonly TraceSpec[], all: readonly Flow[], pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  if (!specs.length) return [];
  const denies = all.map((f) => [f, denyPoint(f)] as const).filter((x): x is readonly [Flow, TracePointValue] => x[1] !== undefined);
  const flows: Flow[] = [];
  for (const { tag, droppedOnly, live } of specs) {
    const cookie = cookies.cookie('Traceflow', `tag/${tag}`);
    const tm = tagMatch(tag);
    if (live) {
      // Above the Pod's own SpoofGuard flow (200), with the same checks plus the filter.
      flows.push({ table: 'SpoofGuard', priority: 210, match: liveMatch(live), actions: [`set_field:${tag}->ip_dscp`, pipeline.goto(pipeline.table('SpoofGuard').next!)], cookie });
    }
    if (!droppedOnly) {
      flows.push({
        table: 'Output', priority: 210,
        match: ['ct_state=-rpl+trk', 'ip', `reg0=${reg0.outputToOFPort}`, tm],
        actions: ['output:NXM_NX_REG1[]', toAgent(tag, TracePoint.Output)], cookie,
      });
    }
    flows.push({ table: 'Output', priority: 1, match: ['ip', tm], actions: [toAgent(tag, TracePoint.NoOutput)], cookie });
    for (const [f, point] of denies) {
      // A copy is one priority above its original: of the per-protocol variants (deny
      // accounting) the copy of the most specific one still wins.
      const match = f.match.some((m) => IP_PROTOCOLS.has(m)) ? [...f.match, tm] : ['ip', ...f.match, tm];
      const rest = f.actions.filter((a) => a !== 'drop');
      flows.push({ table: f.table, priority: f.priority + 1, match, actions: [toAgent(tag, point), ...rest], cookie });
    }
  }
  return flows;
}
