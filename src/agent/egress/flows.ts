// Egress in the pipeline (Antrea's EgressMark): packets of local pods leaving the cluster go
// from L3Forwarding to EgressMark; those of pods whose Egress IP another box holds are
// tunnelled to that box, which sends them out through its gateway and SNATs them (snat-rules.ts).
// Everything else leaves through the local gateway as before. Replies never come here.
import { GLOBAL_VIRTUAL_MAC, reg0, setReg0 } from '../connectivity/registers.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline } from '../ovs/pipeline.js';

export interface EgressTunnel {
  /** objectKey() of the Egress (the flows' cookie object). */
  egress: string;
  /** A local pod selected by the Egress. */
  podIP: string;
  /** Underlay IP of the box holding the Egress IP. */
  egressNodeIP: string;
}

/** Below L3Forwarding's flows for known destinations (190+), above its miss (0). */
const P_L3_EGRESS = 180;
const P_NORMAL = 200;
const P_LOW = 190;

export function egressFlows(tunnels: readonly EgressTunnel[], gatewayMac: string, pipeline: Pipeline, cookies: CookieAllocator): Flow[] {
  if (!tunnels.length) return [];
  const base = cookies.cookie('Egress');
  const flows: Flow[] = [
    // New or established, never a reply: the whole connection takes the same way out.
    { table: 'L3Forwarding', priority: P_L3_EGRESS, match: ['ip', 'ct_state=-rpl+trk', `reg0=${reg0.fromPod}`], actions: [pipeline.goto('EgressMark')], cookie: base },
    { table: 'EgressMark', priority: P_LOW, match: ['ip'], actions: [setReg0(reg0.toGateway), pipeline.goto('L2ForwardingCalc')], cookie: base },
  ];
  for (const t of tunnels) {
    flows.push({
      table: 'EgressMark',
      priority: P_NORMAL,
      match: ['ip', `nw_src=${t.podIP}`],
      actions: [
        `set_field:${gatewayMac}->eth_src`,
        `set_field:${GLOBAL_VIRTUAL_MAC}->eth_dst`,
        `set_field:${t.egressNodeIP}->tun_dst`,
        setReg0(reg0.toTunnel),
        pipeline.goto('L3DecTTL'),
      ],
      cookie: cookies.cookie('Egress', t.egress),
    });
  }
  return flows;
}
