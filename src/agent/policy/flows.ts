// Network policy as flows: a pure function from the node's internal rules (NodePolicySet), the
// local pods' OVS ports and the pipeline to the flows of the six policy tables and the two
// metric tables. Shapes follow Antrea's (pkg/agent/openflow/network_policy.go):
//
//   clause flows  conjunction(id, k/n): k=1 sources, k=2 destinations, k=3 services — so a rule
//                 with M peers and N targets costs M+N(+S) flows, never M×N. Egress targets
//                 match nw_src, ingress targets reg1 (the output port L2ForwardingCalc chose).
//                 A rule with fewer than two restricted dimensions gets an `ip` clause (OVS
//                 needs two). Equal (table, priority, match) clause flows of several rules are
//                 one flow with several conjunction actions.
//   toServices    the destination clause is the named Services' frontends, matched on
//                 conntrack's original destination (cluster IP, protocol, port) since EndpointDNAT
//                 has already rewritten the packet to an endpoint by the egress tables (match.ts).
//   action flow   conj_id=<id>: Allow commits the connection with the rule id in ct_label and
//                 goes to the metric table (skipping the K8s tables, as an Antrea Allow does);
//                 Drop/Reject load the id into reg3 and the deny mark and go to the metric table;
//                 Pass goes to the K8s rule table.
//   metric flows  Allow: ct_state=+new (sessions, first packets) and -new (the rest) per
//                 ct_label id. Drop: drop; Reject: packet-in with userdata naming the rule.
//   isolation     K8s-isolated local pods: drop in EgressDefaultRule/IngressDefaultRule at 200,
//                 above baseline rules (10-180), so baseline cannot undo K8s isolation.
//
// Established connections: ct_state=-new+est / -new+rel skip every rule table (priority 64990
// in AntreaPolicy*Rule, straight to the metric table), as in Antrea: policies decide new
// connections only, replies are never dropped, and a rule change leaves connections already
// committed alone until conntrack forgets them.
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline, TableName } from '../ovs/pipeline.js';
import { CT_ZONE } from '../connectivity/registers.js';
import type { Direction, InternalRule, NodePolicySet, PolicyLayer } from '../../policy/compute/types.js';
import { allocateConjIds } from './conj-id.js';
import { addressMatch, serviceFrontendMatch, serviceMatches } from './match.js';
import type { ServiceFrontend } from '../service/frontends.js';
import {
  ANTREA_POLICY_RANGE, BASELINE_RANGE, PRIORITY_ESTABLISHED, PRIORITY_K8S_ACTION, PRIORITY_K8S_CLAUSE,
  PRIORITY_K8S_ISOLATION, PRIORITY_METRIC, assignPriorities, orderKey,
} from './priority.js';
import { AP_DENY, CONJ_ID_REG, DISPOSITION, TRACE_CONJ_REG, ctLabel, hex } from './registers.js';
import { OP_LOG, OP_REJECT, encodeUserdata } from './userdata.js';
import { LearnedKind, withDenyAccounting } from '../flows/accounting.js';

export interface PolicyFlowInput {
  policies: NodePolicySet;
  /** OVS port of each local pod, by `namespace/name` (ingress rules match on it). */
  ofports: ReadonlyMap<string, number>;
  /**
   * Count denied connections for the flow exporter: drop flows (rules and K8s isolation)
   * learn a per-connection counter in DenyAccounting first (flows/accounting.ts).
   */
  denyAccounting?: boolean;
  /** The box's Services by `namespace/name` (toServices rules match their frontends); needed only when a rule has toServices. */
  serviceFrontends?: ReadonlyMap<string, readonly ServiceFrontend[]>;
}

/** What a run leaves for the next one, so unchanged rules keep their priorities and ids. */
export interface PolicyFlowState {
  priorities: Partial<Record<TableName, Map<string, number>>>;
  conjIds: Map<string, number>;
}

/** A rule as realized: how to find it in dumps, metrics, ct_label and packet-ins. */
export interface RealizedRule {
  rule: InternalRule;
  conjId: number;
  table: TableName;
  priority: number;
  cookie: bigint;
}

export interface PolicyFlowsResult {
  flows: Flow[];
  state: PolicyFlowState;
  realized: RealizedRule[];
  /** Rules with no flows on this node, and why (e.g. no target has an OVS port yet). */
  skipped: { ruleId: string; reason: string }[];
}

export const RULE_TABLES: Record<PolicyLayer, Record<Direction, TableName>> = {
  antrea: { egress: 'AntreaPolicyEgressRule', ingress: 'AntreaPolicyIngressRule' },
  k8s: { egress: 'EgressRule', ingress: 'IngressRule' },
  baseline: { egress: 'EgressDefaultRule', ingress: 'IngressDefaultRule' },
};
const METRIC: Record<Direction, TableName> = { egress: 'EgressMetric', ingress: 'IngressMetric' };

export function policyFlows(input: PolicyFlowInput, pipeline: Pipeline, cookies: CookieAllocator, previous?: PolicyFlowState): PolicyFlowsResult {
  const { rules, isolated } = input.policies;
  const base = cookies.cookie('NetworkPolicy');
  const flows: Flow[] = [];
  const skipped: PolicyFlowsResult['skipped'] = [];
  const realized: RealizedRule[] = [];

  // Established and related traffic bypasses the rule tables.
  for (const dir of ['egress', 'ingress'] as const) {
    for (const st of ['-new+est', '-new+rel']) {
      flows.push({ table: RULE_TABLES.antrea[dir], priority: PRIORITY_ESTABLISHED, match: [`ct_state=${st}`, 'ip'], actions: [pipeline.goto(METRIC[dir])], cookie: base });
    }
  }

  const denied = (f: Flow, kind: Parameters<typeof withDenyAccounting>[2], conjId?: number): Flow[] =>
    input.denyAccounting ? withDenyAccounting(f, pipeline, kind, conjId) : [f];

  // K8s isolation: default drop for what no K8s rule (or higher-tier Antrea rule) allowed.
  for (const t of isolated.egress) {
    const m = addressMatch('src', t.ip);
    if (m) flows.push(...denied({ table: 'EgressDefaultRule', priority: PRIORITY_K8S_ISOLATION, match: m, actions: ['drop'], cookie: cookies.cookie('NetworkPolicy', `isolation/egress/${t.key}`) }, LearnedKind.IsolatedEgress));
  }
  for (const t of isolated.ingress) {
    const port = input.ofports.get(t.key);
    if (port !== undefined) flows.push(...denied({ table: 'IngressDefaultRule', priority: PRIORITY_K8S_ISOLATION, match: [`reg1=${hex(port)}`], actions: ['drop'], cookie: cookies.cookie('NetworkPolicy', `isolation/ingress/${t.key}`) }, LearnedKind.IsolatedIngress));
  }

  const conjIds = allocateConjIds(rules.map((r) => r.id), previous?.conjIds);
  const priorities: PolicyFlowState['priorities'] = {};
  for (const layer of ['antrea', 'baseline'] as const) {
    for (const dir of ['egress', 'ingress'] as const) {
      const table = RULE_TABLES[layer][dir];
      const orders = rules.filter((r) => r.layer === layer && r.direction === dir).map((r) => r.order);
      priorities[table] = assignPriorities(orders, layer === 'antrea' ? ANTREA_POLICY_RANGE : BASELINE_RANGE, previous?.priorities[table]);
    }
  }

  // Clause flows keyed by (table, priority, match) so that rules sharing one merge their actions.
  const clauses = new Map<string, { flow: Flow; actions: string[]; owner: string }>();
  const addClause = (table: TableName, priority: number, match: string[], action: string, rule: InternalRule) => {
    const key = `${table}|${priority}|${match.join(',')}`;
    const c = clauses.get(key);
    if (!c) clauses.set(key, { flow: { table, priority, match, actions: [], cookie: 0n }, actions: [action], owner: rule.id });
    else {
      c.actions.push(action);
      if (rule.id < c.owner) c.owner = rule.id;
    }
  };

  for (const rule of rules) {
    const conjId = conjIds.get(rule.id)!;
    const table = RULE_TABLES[rule.layer][rule.direction];
    const k8s = rule.layer === 'k8s';
    const clausePriority = k8s ? PRIORITY_K8S_CLAUSE : priorities[table]!.get(orderKey(rule.order))!;
    const actionPriority = k8s ? PRIORITY_K8S_ACTION : clausePriority;

    const targets = rule.direction === 'egress'
      ? rule.targets.map((t) => addressMatch('src', t.ip)).filter((m): m is string[] => !!m)
      : rule.targets.map((t) => input.ofports.get(t.key)).filter((p): p is number => p !== undefined).map((p) => [`reg1=${hex(p)}`]);
    if (!targets.length) {
      skipped.push({ ruleId: rule.id, reason: rule.direction === 'egress' ? 'no IPv4 target on this node' : 'no target has an OVS port yet' });
      continue;
    }
    const peerSide = rule.direction === 'egress' ? 'dst' : 'src';
    const toServices = rule.peers.toServices;
    const peers = toServices
      ? toServices.flatMap((s) => input.serviceFrontends?.get(`${s.namespace}/${s.name}`) ?? []).map(serviceFrontendMatch)
      : rule.peers.any ? undefined : [...rule.peers.ips, ...rule.peers.cidrs].map((a) => addressMatch(peerSide, a)).filter((m): m is string[] => !!m);
    if (peers && !peers.length) {
      // A Service that does not exist (yet) matches nothing, as in Antrea; the rule gets its flows when it appears.
      skipped.push({ ruleId: rule.id, reason: toServices ? `no Service of ${toServices.map((s) => `${s.namespace}/${s.name}`).join(', ')} with an IPv4 cluster IP on this node` : 'no IPv4 peer' });
      continue;
    }
    const services = rule.services?.flatMap(serviceMatches);

    // Clause order as Antrea: 1 sources, 2 destinations, 3 services.
    const dims = (rule.direction === 'egress' ? [targets, peers] : [peers, targets]).concat([services]).filter((d): d is string[][] => !!d);
    if (dims.length < 2) dims.push([['ip']]);
    dims.forEach((matches, i) => {
      for (const m of matches) addClause(table, clausePriority, m, `conjunction(${conjId},${i + 1}/${dims.length})`, rule);
    });

    const cookie = cookies.cookie('NetworkPolicy', rule.id);
    const metric = METRIC[rule.direction];
    flows.push({ table, priority: actionPriority, match: [`conj_id=${conjId}`, 'ip'], actions: actionFlowActions(rule, conjId, pipeline), cookie });
    if (rule.action === 'Allow') {
      const label = ctLabel(rule.direction, conjId);
      for (const st of ['+new', '-new']) {
        // Logging: a copy of each connection's first packet to the agent, forwarding unchanged.
        const logged = st === '+new' && rule.enableLogging ? [toAgent(OP_LOG, rule, conjId)] : [];
        flows.push({ table: metric, priority: PRIORITY_METRIC, match: [`ct_state=${st}`, `ct_label=${label.value}/${label.mask}`, 'ip'], actions: [...logged, pipeline.goto(pipeline.table(metric).next!)], cookie });
      }
    } else if (rule.action === 'Drop' || rule.action === 'Reject') {
      const log = rule.enableLogging ? OP_LOG : 0;
      const act = rule.action === 'Reject' ? toAgent(OP_REJECT | log, rule, conjId) : log ? toAgent(log, rule, conjId) : 'drop';
      flows.push(...denied({ table: metric, priority: PRIORITY_METRIC, match: [`reg0=${AP_DENY}`, `${CONJ_ID_REG}=${hex(conjId)}`], actions: [act], cookie }, LearnedKind.DeniedByRule, conjId));
    }
    realized.push({ rule, conjId, table, priority: actionPriority, cookie });
  }

  for (const c of clauses.values()) {
    flows.push({ ...c.flow, actions: c.actions, cookie: cookies.cookie('NetworkPolicy', c.owner) });
  }
  return { flows, state: { priorities, conjIds: new Map(realized.map((r) => [r.rule.id, r.conjId])) }, realized, skipped };
}

/** Packet-in to the agent naming the rule and what to do (reject.ts, log.ts). */
const toAgent = (operations: number, rule: InternalRule, conjId: number) =>
  `controller(userdata=${encodeUserdata({ operations, direction: rule.direction, conjId })})`;

function actionFlowActions(rule: InternalRule, conjId: number, pipeline: Pipeline): string[] {
  const metric = METRIC[rule.direction];
  switch (rule.action) {
    case 'Allow': {
      const label = ctLabel(rule.direction, conjId);
      return [
        `set_field:${hex(conjId)}->${TRACE_CONJ_REG[rule.direction]}`,
        `ct(commit,table=${pipeline.id(metric)},zone=${CT_ZONE},exec(set_field:${label.value}/${label.mask}->ct_label))`,
      ];
    }
    case 'Drop':
    case 'Reject':
      return [`set_field:${hex(conjId)}->${CONJ_ID_REG}`, `set_field:${AP_DENY}->reg0`, `set_field:${DISPOSITION[rule.action]}->reg0`, pipeline.goto(metric)];
    case 'Pass':
      return [`set_field:${hex(conjId)}->${TRACE_CONJ_REG[rule.direction]}`, pipeline.goto(RULE_TABLES.k8s[rule.direction])];
  }
}
