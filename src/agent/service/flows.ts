// Service load balancing as flows and select groups: a pure function from the planned Service
// ports (plan.ts) and the box's gateway and local pods to flows in Antrea's Service tables.
//
//   ConntrackState      established Service connections (ct_mark 0x10) skip load balancing;
//                       their packets get MACs rewritten like routed ones
//   PreRoutingClassifier  ip: resubmit(,SessionAffinity), resubmit(,ServiceLB); a packet to the
//                       NodePort virtual IP is marked first (reg4 bit 19)
//   SessionAffinity     flows learned by ClientIP Services: client → endpoint (reg3/reg4, EpSelected);
//                       miss: EpToSelect
//   ServiceLB           cluster IP:port (or any address:node port with the mark) in EpToSelect →
//                       the Service's select group; a bucket per endpoint loads reg3/reg4 and
//                       resubmits to EndpointDNAT (to ServiceLB again in EpToLearn, where the
//                       learn flow remembers the choice for the affinity timeout). A port with
//                       no serving endpoint at all sends the packet to the agent instead, which
//                       answers RST / ICMP port unreachable as the cluster IP (policy/reject.ts)
//   EndpointDNAT        reg3/reg4 → ct(commit, nat(dst=ip:port)) in zone 65520, ct_mark 0x10
//   SNATMark / SNAT     hairpin (source = destination pod) → SNAT to 169.254.0.253, NodePort with
//                       externalTrafficPolicy Cluster → SNAT to the gateway IP, in zone 65521
//   UnSNAT              replies to those addresses → un-SNAT in zone 65521 before zone 65520
//   ConntrackCommit     connections committed at EndpointDNAT are not committed again
//   Output              a packet back out of the port it came in on (hairpin): IN_PORT
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Group } from '../ovs/group.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { CT_ZONE, reg0, setReg0 } from '../connectivity/registers.js';
import { learnedCookie, LearnedKind } from '../flows/accounting.js';
import { encodeServiceNoEndpointUserdata } from '../policy/userdata.js';
import type { ServiceEndpoint, ServicePortPlan } from './plan.js';
import {
  EpState, HAIRPIN_CT_MARK, HAIRPIN_VIRTUAL_IP, NODE_PORT_BIT, NODE_PORT_VIRTUAL_IP, SERVICE_CT_MARK, SNAT_BIT, SNAT_CT_MARK, SNAT_CT_ZONE,
  ctMarkMatch, hex, ipHex, reg4State, setCtMark, setReg4State,
} from './registers.js';

export interface ServiceFlowContext {
  gatewayIP: string;
  /** This box's pods (hairpin needs one SNAT and one IN_PORT flow each). */
  pods: readonly { key: string; ip: string; ofport: number }[];
  /** Group ids by owner key (`<service port key>` and `<key>/nodePort`). */
  groupIds: ReadonlyMap<string, number>;
}

export interface ServiceDatapath {
  flows: Flow[];
  groups: Group[];
}

const PROTO = { TCP: { match: 'tcp', nwProto: 6, dst: 'NXM_OF_TCP_DST[]', src: 'tcp_src' }, UDP: { match: 'udp', nwProto: 17, dst: 'NXM_OF_UDP_DST[]', src: 'udp_src' }, SCTP: { match: 'sctp', nwProto: 132, dst: 'OXM_OF_SCTP_DST[]', src: 'sctp_src' } } as const;
const P_NORMAL = 200;
const P_HIGH = 210;
/** A new connection conntrack marked as a Service one (SNATMark). */
const NEW_SERVICE = ['ct_state=+new+trk', ctMarkMatch(SERVICE_CT_MARK), 'ip'];

/** The group owner keys of a Service port, in the order groupIds should be allocated from. */
export function groupKeys(plans: readonly ServicePortPlan[]): string[] {
  return plans.flatMap((p) => (p.nodePort ? [p.key, `${p.key}/nodePort`] : [p.key]));
}

/** Learned affinity flows of one group: its cookie (round 0, foreign to reconciles; flows/accounting.ts). */
export const affinityCookie = (groupId: number): bigint => learnedCookie(LearnedKind.SessionAffinity, groupId);

/** The full recompute: every flow and group of these Service ports (ServiceFeature builds the same set per Service). */
export function serviceFlows(plans: readonly ServicePortPlan[], ctx: ServiceFlowContext, pipeline: Pipeline, cookies: CookieAllocator): ServiceDatapath {
  const flows: Flow[] = [];
  const groups: Group[] = [];
  const dnat = new Map<string, Flow>();
  for (const p of plans) {
    const port = servicePortFlows(p, ctx.groupIds, pipeline, cookies);
    flows.push(...port.flows);
    groups.push(...port.groups);
    for (const ep of port.endpoints) if (!dnat.has(ep.key)) dnat.set(ep.key, endpointDNATFlow(ep, pipeline, cookies));
  }
  flows.push(...dnat.values());
  return { flows: [...serviceFixedFlows(ctx.gatewayIP, pipeline, cookies), ...flows, ...hairpinFlows(ctx.pods, pipeline, cookies)], groups };
}

/** An endpoint address, port and protocol: its one EndpointDNAT flow, shared by every Service port that balances to it. */
export interface EndpointTarget {
  /** `ip:port/PROTOCOL` */
  key: string;
  ip: string;
  port: number;
  protocol: ServicePortPlan['protocol'];
}

/** The flows that do not depend on any Service: lookups, established skip, SNAT and un-SNAT, commit skip. */
export function serviceFixedFlows(gatewayIP: string, pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  const flows: Flow[] = [];
  const base = cookies.cookie('Service');
  const id = (t: Parameters<Pipeline['id']>[0]) => pipeline.id(t);
  const egressStage = pipeline.gotoStage('egressSecurity');

  // Established Service connections: no new endpoint choice; MACs rewritten as routed.
  flows.push({ table: 'ConntrackState', priority: 190, match: ['ct_state=-new+trk', ctMarkMatch(SERVICE_CT_MARK), 'ip'], actions: [setReg0(reg0.rewriteMAC), egressStage], cookie: base });
  // Every IP packet is looked up in SessionAffinity, then ServiceLB.
  const lookups = [pipeline.resubmit('SessionAffinity'), pipeline.resubmit('ServiceLB')];
  flows.push({ table: 'PreRoutingClassifier', priority: P_NORMAL, match: ['ip'], actions: lookups, cookie: base });
  flows.push({ table: 'PreRoutingClassifier', priority: P_HIGH, match: ['ip', `nw_dst=${NODE_PORT_VIRTUAL_IP}`], actions: [`set_field:${hex(NODE_PORT_BIT)}/${hex(NODE_PORT_BIT)}->reg4`, ...lookups], cookie: base });
  flows.push({ table: 'SessionAffinity', priority: 0, match: [], actions: [setReg4State(EpState.ToSelect)], cookie: base });

  // SNAT: marked in zone 65520 (so every later packet of the connection knows), done in 65521.
  const l2 = id('L2ForwardingCalc');
  const snatTable = id('SNAT');
  flows.push({ table: 'SNATMark', priority: P_NORMAL, match: [...NEW_SERVICE, `reg4=${hex(SNAT_BIT)}/${hex(SNAT_BIT)}`], actions: [`ct(commit,table=${snatTable},zone=${CT_ZONE},exec(${setCtMark(SNAT_CT_MARK)}))`], cookie: base });
  const inZone65521 = (nat: string) => `ct(commit,table=${l2},zone=${SNAT_CT_ZONE},nat(src=${nat}),exec(${setCtMark(SERVICE_CT_MARK)}))`;
  flows.push({ table: 'SNAT', priority: P_HIGH, match: ['ct_state=+new+trk', ctMarkMatch(SNAT_CT_MARK | HAIRPIN_CT_MARK), 'ip'], actions: [inZone65521(HAIRPIN_VIRTUAL_IP)], cookie: base });
  flows.push({ table: 'SNAT', priority: P_NORMAL, match: ['ct_state=+new+trk', ctMarkMatch(SNAT_CT_MARK), 'ip'], actions: [inZone65521(gatewayIP)], cookie: base });
  flows.push({ table: 'SNAT', priority: P_NORMAL, match: ['ct_state=-new-rpl+trk', ctMarkMatch(SNAT_CT_MARK), 'ip'], actions: [`ct(table=${l2},zone=${SNAT_CT_ZONE},nat)`], cookie: base });
  // Replies to the SNAT addresses: un-SNAT first (zone 65521), then the pod zone un-DNATs.
  for (const ip of [HAIRPIN_VIRTUAL_IP, gatewayIP]) {
    flows.push({ table: 'UnSNAT', priority: P_NORMAL, match: ['ip', `nw_dst=${ip}`], actions: [`ct(table=${id('ConntrackZone')},zone=${SNAT_CT_ZONE},nat)`], cookie: base });
  }
  // Committed with the endpoint's DNAT already (or in zone 65521): not again.
  flows.push({ table: 'ConntrackCommit', priority: P_HIGH, match: ['ct_state=+new+trk', ctMarkMatch(SERVICE_CT_MARK), 'ip'], actions: [pipeline.goto('Output')], cookie: base });
  return flows;
}

/**
 * One Service port's ServiceLB flows (cluster IP, and node port when it has one) and select
 * groups, and the endpoints its buckets resubmit to (their EndpointDNAT flows are shared).
 * Depends on nothing but the plan and its group ids, so it can be kept per Service.
 */
export function servicePortFlows(p: ServicePortPlan, groupIds: ReadonlyMap<string, number>, pipeline: Pipeline, cookies: CookieAllocator): ServiceDatapath & { endpoints: EndpointTarget[] } {
  const flows: Flow[] = [];
  const groups: Group[] = [];
  const endpoints = new Map<string, EndpointTarget>();
  const id = (t: Parameters<Pipeline['id']>[0]) => pipeline.id(t);
  const proto = PROTO[p.protocol];
  const cookie = cookies.cookie('Service', p.key);
  const port = (nodePort: boolean) => (nodePort ? [`tp_dst=${p.nodePort}`] : [`nw_dst=${p.clusterIP}`, `tp_dst=${p.port}`]);
  const entries: { nodePort: boolean; groupKey: string; endpoints: ServiceEndpoint[]; snat: boolean }[] = [{ nodePort: false, groupKey: p.key, endpoints: p.clusterEndpoints, snat: false }];
  if (p.nodePort) entries.push({ nodePort: true, groupKey: `${p.key}/nodePort`, endpoints: p.nodePortEndpoints, snat: p.nodePortSNAT });
  for (const e of entries) {
    const groupId = groupIds.get(e.groupKey);
    if (groupId === undefined) throw new Error(`service flows: no group id for ${e.groupKey}`);
    const learn = p.affinitySeconds > 0;
    // Select on the client's address and port: new connections spread, and a bucket change
    // (endpoint added or removed) re-hashes only new ones; established ones never get here.
    const next = learn ? pipeline.resubmit('ServiceLB') : pipeline.resubmit('EndpointDNAT');
    const buckets = e.endpoints.map((ep, i) => `bucket=bucket_id:${i},weight:100,actions=set_field:${ipHex(ep.ip)}->reg3,set_field:${hex(ep.port)}/0xffff->reg4,${next}`);
    groups.push({ id: groupId, spec: [`type=select,selection_method=hash,fields(ip_src,${proto.src})`, ...buckets].join(',') });
    const marks = [setReg0(reg0.rewriteMAC), ...(e.snat ? [`set_field:${hex(SNAT_BIT)}/${hex(SNAT_BIT)}->reg4`] : [])];
    // No endpoint anywhere: reject (the agent answers); when one appears this flow is rewritten to the group.
    const toGroup = [...marks, setReg4State(learn ? EpState.ToLearn : EpState.Selected), `group:${groupId}`];
    flows.push({
      table: 'ServiceLB', priority: P_NORMAL,
      match: [proto.match, reg4State(EpState.ToSelect, e.nodePort), ...port(e.nodePort)],
      actions: p.hasEndpoints ? toGroup : [`controller(userdata=${encodeServiceNoEndpointUserdata()})`], cookie,
    });
    if (learn) {
      const learned = [
        `learn(table=${id('SessionAffinity')}`, `hard_timeout=${p.affinitySeconds}`, `priority=${P_NORMAL}`, 'delete_learned', `cookie=0x${affinityCookie(groupId).toString(16)}`,
        'eth_type=0x800', `nw_proto=${proto.nwProto}`, proto.dst, 'NXM_OF_IP_DST[]', 'NXM_OF_IP_SRC[]',
        'load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15]', 'load:NXM_NX_REG3[]->NXM_NX_REG3[]', `load:0x2->NXM_NX_REG4[16..18]`,
        // The marks the ServiceLB flow would have set (a learned choice bypasses it).
        'load:0x1->NXM_NX_REG0[9]', ...(e.snat ? ['load:0x1->NXM_NX_REG4[20]'] : []),
      ].join(',') + ')';
      flows.push({
        table: 'ServiceLB', priority: P_NORMAL,
        match: [proto.match, reg4State(EpState.ToLearn, e.nodePort), ...port(e.nodePort)],
        actions: [learned, setReg4State(EpState.Selected), pipeline.goto('EndpointDNAT')], cookie,
      });
    }
    for (const ep of e.endpoints) {
      const key = `${ep.ip}:${ep.port}/${p.protocol}`;
      if (!endpoints.has(key)) endpoints.set(key, { key, ip: ep.ip, port: ep.port, protocol: p.protocol });
    }
  }
  return { flows, groups, endpoints: [...endpoints.values()] };
}

/** The EndpointDNAT flow of one endpoint: reg3/reg4 → ct(commit, nat(dst=ip:port)) in zone 65520, ct_mark 0x10. */
export function endpointDNATFlow(ep: EndpointTarget, pipeline: Pipeline, cookies: CookieAllocator): Flow {
  const proto = PROTO[ep.protocol];
  const egressTable = Number(pipeline.gotoStage('egressSecurity').slice('goto_table:'.length));
  return {
    table: 'EndpointDNAT', priority: P_NORMAL,
    match: [proto.match, `reg3=${ipHex(ep.ip)}`, `reg4=${hex(EpState.Selected | ep.port)}/0x7ffff`],
    actions: [`ct(commit,table=${egressTable},zone=${CT_ZONE},nat(dst=${ep.ip}:${ep.port}),exec(${setCtMark(SERVICE_CT_MARK)},move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))`],
    cookie: cookies.cookie('Service', `endpoint/${ep.key}`),
  };
}

/** Hairpin for this box's pods: a SNAT mark and an IN_PORT output each. */
export function hairpinFlows(pods: ServiceFlowContext['pods'], pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  const flows: Flow[] = [];
  const snatTable = pipeline.id('SNAT');
  for (const pod of pods) {
    const c = cookies.cookie('Service', `hairpin/${pod.key}`);
    flows.push({ table: 'SNATMark', priority: P_HIGH, match: [...NEW_SERVICE, `nw_src=${pod.ip}`, `nw_dst=${pod.ip}`], actions: [`ct(commit,table=${snatTable},zone=${CT_ZONE},exec(${setCtMark(SNAT_CT_MARK | HAIRPIN_CT_MARK)}))`], cookie: c });
    // A hairpin packet leaves through the port it came in on, which plain output refuses.
    const count = pipeline.has('FlowAccounting') ? [pipeline.resubmit('FlowAccounting')] : [];
    flows.push({ table: 'Output', priority: 205, match: [`reg0=${reg0.outputToOFPort}`, `in_port=${pod.ofport}`, `reg1=${hex(pod.ofport)}`], actions: [...count, 'IN_PORT'], cookie: c });
  }
  return flows;
}
