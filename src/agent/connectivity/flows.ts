// Pod connectivity as flows: a pure function from what the box knows (its gateway, tunnel,
// local pods, peer boxes) to the flows of the pipeline's connectivity tables. The shapes follow
// Antrea's pod-connectivity feature; the policy, service and egress tables stay in place with
// their pass-through miss flows until their features fill them.
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline, TableName } from '../ovs/pipeline.js';
import { gatewayIP } from '../route/node-routes.js';
import { CT_ZONE, GLOBAL_VIRTUAL_MAC, ctMark, reg0, setReg0, setTargetPort } from './registers.js';

export interface LocalPod {
  /** `<namespace>/<name>`, the cookie's object key. */
  key: string;
  ofport: number;
  mac: string;
  ip: string;
}

export interface PeerBox {
  name: string;
  podCIDR: string;
  underlayIP: string;
  /** Tunnelled (encap, or hybrid across subnets); otherwise routed by the underlay through the gateway. */
  encap: boolean;
  /** Routed into the WireGuard device (trafficEncryptionMode wireGuard); never tunnelled then. */
  wireGuard?: boolean;
  /** The peer's WireGuard public key (wireGuard peers). */
  publicKey?: string;
}

export interface ConnectivityState {
  podCIDR: string;
  serviceCIDR: string;
  gateway: { ofport: number; mac: string; ip: string };
  /** Absent when no peer is tunnelled (noEncap). */
  tunnel?: { ofport: number };
  pods: LocalPod[];
  peers: PeerBox[];
}

const P_HIGH = 210;
const P_NORMAL = 200;
const P_LOW = 190;

export function connectivityFlows(s: ConnectivityState, pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  const flows: Flow[] = [];
  const base = cookies.cookie('PodConnectivity');
  const add = (table: TableName, priority: number, match: string[], actions: string[], cookie = base) =>
    flows.push({ table, priority, match, actions, cookie });
  const next = (table: TableName) => pipeline.goto(pipeline.table(table).next!);
  const gw = s.gateway;
  const tunnelled = s.peers.filter((p) => p.encap);
  if (tunnelled.length && !s.tunnel) throw new Error('connectivity: tunnelled peers need a tunnel port');

  // ARP: only the addresses a port really owns may be advertised; the remote gateways are
  // answered locally with the virtual MAC, everything else is plain L2 switching.
  add('ARPSpoofGuard', P_NORMAL, ['arp', `in_port=${gw.ofport}`, `arp_spa=${gw.ip}`, `arp_sha=${gw.mac}`], [pipeline.goto('ARPResponder')]);
  for (const p of s.pods) {
    add('ARPSpoofGuard', P_NORMAL, ['arp', `in_port=${p.ofport}`, `arp_spa=${p.ip}`, `arp_sha=${p.mac}`], [pipeline.goto('ARPResponder')], cookies.cookie('PodConnectivity', p.key));
  }
  for (const peer of tunnelled) {
    add('ARPResponder', P_NORMAL, ['arp', `arp_tpa=${gatewayIP(peer.podCIDR)}`, 'arp_op=1'], [
      'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
      `set_field:${GLOBAL_VIRTUAL_MAC}->eth_src`,
      'set_field:2->arp_op',
      'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
      `set_field:${GLOBAL_VIRTUAL_MAC}->arp_sha`,
      'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]',
      `set_field:${gatewayIP(peer.podCIDR)}->arp_spa`,
      'IN_PORT',
    ], cookies.cookie('Tunnel', peer.name));
  }
  add('ARPResponder', P_LOW, ['arp'], ['NORMAL']);

  // Classifier: where did the packet come from.
  add('Classifier', P_NORMAL, ['ip', `in_port=${gw.ofport}`], [setReg0(reg0.fromGateway), pipeline.goto('SpoofGuard')]);
  if (s.tunnel) {
    // Tunnelled packets were validated by the sending box: skip SpoofGuard.
    add('Classifier', P_NORMAL, ['ip', `in_port=${s.tunnel.ofport}`], [setReg0(reg0.fromTunnel), setReg0(reg0.rewriteMAC), next('SpoofGuard')]);
  }
  for (const p of s.pods) {
    const c = cookies.cookie('PodConnectivity', p.key);
    add('Classifier', P_LOW, ['ip', `in_port=${p.ofport}`], [setReg0(reg0.fromPod), pipeline.goto('SpoofGuard')], c);
    // SpoofGuard: a pod may only send from the IP and MAC it was given.
    add('SpoofGuard', P_NORMAL, ['ip', `in_port=${p.ofport}`, `dl_src=${p.mac}`, `nw_src=${p.ip}`], [next('SpoofGuard')], c);
  }
  add('SpoofGuard', P_NORMAL, ['ip', `in_port=${gw.ofport}`], [next('SpoofGuard')]);

  // Conntrack: every IP packet is tracked in the pod zone; invalid ones are dropped and
  // established ones skip Service endpoint selection.
  add('ConntrackZone', P_NORMAL, ['ip'], [`ct(table=${pipeline.id('ConntrackState')},zone=${CT_ZONE},nat)`]);
  add('ConntrackState', P_NORMAL, ['ct_state=+inv+trk', 'ip'], ['drop']);
  add('ConntrackState', P_LOW, ['ct_state=-new+trk', `ct_mark=${ctMark.notService}`, 'ip'], [pipeline.gotoStage('egressSecurity')]);

  // L3Forwarding: choose the next hop by destination IP.
  const toGateway = [`set_field:${gw.mac}->eth_dst`, setReg0(reg0.toGateway), pipeline.goto('L3DecTTL')];
  add('L3Forwarding', P_HIGH, ['ip', `nw_dst=${gw.ip}`], toGateway);
  add('L3Forwarding', P_HIGH, ['ct_state=+rpl+trk', `ct_mark=${ctMark.fromGateway}`, 'ip'], toGateway);
  add('L3Forwarding', P_NORMAL, ['ip', `reg0=${reg0.notRewriteMAC}`, `nw_dst=${s.podCIDR}`], [setReg0(reg0.toLocal), pipeline.goto('L2ForwardingCalc')]);
  // Cluster IPs are load-balanced earlier (src/agent/service); what reaches this flow is an address or port no Service has: the host decides.
  add('L3Forwarding', P_NORMAL, ['ip', `nw_dst=${s.serviceCIDR}`], toGateway);
  for (const peer of tunnelled) {
    add('L3Forwarding', P_NORMAL, ['ip', `nw_dst=${peer.podCIDR}`], [
      `set_field:${gw.mac}->eth_src`,
      `set_field:${GLOBAL_VIRTUAL_MAC}->eth_dst`,
      `set_field:${peer.underlayIP}->tun_dst`,
      setReg0(reg0.toTunnel),
      pipeline.goto('L3DecTTL'),
    ], cookies.cookie('Tunnel', peer.name));
  }
  for (const p of s.pods) {
    // Routed to a local pod (from a tunnel): rewrite MACs as a router would.
    add('L3Forwarding', P_NORMAL, ['ip', `reg0=${reg0.rewriteMAC}`, `nw_dst=${p.ip}`], [
      `set_field:${gw.mac}->eth_src`,
      `set_field:${p.mac}->eth_dst`,
      setReg0(reg0.toLocal),
      pipeline.goto('L3DecTTL'),
    ], cookies.cookie('PodConnectivity', p.key));
  }
  if (s.tunnel) {
    // From a remote pod to somewhere outside the pod networks: hand it to the host.
    add('L3Forwarding', P_LOW, ['ct_state=-rpl+trk', 'ip', `reg0=${reg0.fromTunnel}`], toGateway);
  }
  // Everything else (external, noEncap peers) leaves through the gateway and the host's routes.
  add('L3Forwarding', 0, [], [setReg0(reg0.toGateway), pipeline.goto('L2ForwardingCalc')]);

  // L3DecTTL: the host stack already decremented the TTL of packets from the gateway.
  add('L3DecTTL', P_HIGH, ['ip', `reg0=${reg0.fromGateway}`], [next('L3DecTTL')]);
  add('L3DecTTL', P_NORMAL, ['ip'], ['dec_ttl', next('L3DecTTL')]);

  // L2ForwardingCalc: the switch's dmac table.
  const output = (ofport: number) => [setTargetPort(ofport), setReg0(reg0.outputToOFPort), next('L2ForwardingCalc')];
  add('L2ForwardingCalc', P_NORMAL, [`dl_dst=${gw.mac}`], output(gw.ofport));
  if (s.tunnel) add('L2ForwardingCalc', P_NORMAL, [`dl_dst=${GLOBAL_VIRTUAL_MAC}`], output(s.tunnel.ofport));
  for (const p of s.pods) add('L2ForwardingCalc', P_NORMAL, [`dl_dst=${p.mac}`], output(p.ofport), cookies.cookie('PodConnectivity', p.key));

  // Commit new connections, remembering where they came from (replies to the gateway use it).
  add('ConntrackCommit', P_NORMAL, ['ct_state=+new+trk', `ct_mark=${ctMark.notSNAT}`, 'ip'], [
    `ct(commit,table=${pipeline.id('Output')},zone=${CT_ZONE},exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))`,
  ]);
  // With the flow exporter, every forwarded packet is first counted per connection (a resubmit returns).
  const count = pipeline.has('FlowAccounting') ? [pipeline.resubmit('FlowAccounting')] : [];
  add('Output', P_NORMAL, [`reg0=${reg0.outputToOFPort}`], [...count, 'output:NXM_NX_REG1[]']);
  return flows;
}

/**
 * The full desired flow set: the pipeline's default flows, with any flow a feature defines
 * for the same (table, priority, match) taking the default's place (e.g. L3Forwarding's miss).
 */
export function mergeFlows(defaults: Flow[], features: Flow[]): Flow[] {
  const key = (f: Flow) => `${f.table}|${f.priority}|${f.match.join(',')}`;
  const byKey = new Map(defaults.map((f) => [key(f), f]));
  for (const f of features) byKey.set(key(f), f);
  return [...byKey.values()];
}
