// A representative set of the flows (and groups) Seine's agent writes, built by the agent's
// own flow builders with varied inputs: default flows, pod connectivity (local pods, tunnelled
// and direct peers), policy (allow/drop/reject/logging, ports, port ranges, ICMP, CIDRs,
// K8s isolation, deny accounting), Services (select groups, affinity learn, NodePort,
// hairpin), Egress, flow accounting and Traceflow. Used by the encoder's golden tests and the
// byte-identical dump test; `scale` multiplies the policy peers to reach 1k+ flows.
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import type { Flow } from '../../src/agent/ovs/flow.js';
import type { Group } from '../../src/agent/ovs/group.js';
import { connectivityFlows } from '../../src/agent/connectivity/flows.js';
import { egressFlows } from '../../src/agent/egress/flows.js';
import { accountingFlows } from '../../src/agent/flows/accounting.js';
import { policyFlows } from '../../src/agent/policy/flows.js';
import { allocateGroupIds } from '../../src/agent/ovs/group.js';
import { groupKeys, serviceFlows } from '../../src/agent/service/flows.js';
import { planServices } from '../../src/agent/service/plan.js';
import { traceflowFlows } from '../../src/agent/traceflow/flows.js';
import { endpointSliceView, serviceView } from '../../src/agent/inventory/convert.js';
import { EndpointSliceSchema, ServiceSchema } from '../../src/api/k8s-core.js';
import type { Inventory } from '../../src/api/inventory.js';
import type { InternalRule } from '../../src/policy/compute/types.js';

const pipeline = Pipeline.build();

function rules(scale: number): InternalRule[] {
  const base = (over: Partial<InternalRule> & { id: string }): InternalRule => ({
    policy: { kind: 'AntreaClusterNetworkPolicy', name: 'p' }, ruleName: 'r', direction: 'egress', action: 'Allow', layer: 'antrea', tier: 'application',
    order: { tierPriority: 250, policyPriority: 1, ruleIndex: 0 }, targets: [{ key: 'ns/a', ip: '10.42.0.2' }],
    peers: { any: false, ips: ['10.42.1.5'], cidrs: [] }, enableLogging: false, ...over,
  });
  const ips = (n: number, third: number) => Array.from({ length: n }, (_, i) => `10.${40 + third}.${(i >> 8) & 255}.${i & 255}`);
  return [
    base({ id: 'e-tcp', services: [{ protocol: 'TCP', port: 3306 }], peers: { any: false, ips: ips(20 * scale, 1), cidrs: ['192.168.0.0/16'] } }),
    base({ id: 'e-range', order: { tierPriority: 250, policyPriority: 1, ruleIndex: 1 }, services: [{ protocol: 'TCP', port: 8000, endPort: 8100 }, { protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 9 }] }),
    base({ id: 'e-icmp', order: { tierPriority: 250, policyPriority: 1, ruleIndex: 2 }, action: 'Drop', services: [{ protocol: 'ICMP', icmpType: 8, icmpCode: 0 }], enableLogging: true, logLabel: 'x' }),
    base({ id: 'i-allow', direction: 'ingress', targets: [{ key: 'ns/a', ip: '10.42.0.2' }, { key: 'ns/b', ip: '10.42.0.3' }], peers: { any: false, ips: ips(30 * scale, 2), cidrs: ['10.0.0.0/8'] }, services: [{ protocol: 'TCP', port: 80 }] }),
    base({ id: 'i-reject', direction: 'ingress', action: 'Reject', order: { tierPriority: 250, policyPriority: 2, ruleIndex: 0 }, peers: { any: true, ips: [], cidrs: [] } }),
    base({ id: 'i-drop-any', direction: 'ingress', action: 'Drop', layer: 'baseline', tier: 'baseline', order: { tierPriority: 253, policyPriority: 1, ruleIndex: 0 }, peers: { any: true, ips: [], cidrs: [] }, enableLogging: true }),
    base({ id: 'k8s-in', direction: 'ingress', layer: 'k8s', tier: 'k8s', policy: { kind: 'K8sNetworkPolicy', namespace: 'ns', name: 'np' }, peers: { any: false, ips: ips(10 * scale, 3), cidrs: [] }, services: [{ protocol: 'UDP', port: 5353 }] }),
  ];
}

function inventory(): Inventory {
  const web = ServiceSchema.parse({
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      type: 'NodePort', clusterIP: '10.43.0.100', selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }, { name: 'dns', protocol: 'UDP', port: 53 }],
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, externalTrafficPolicy: 'Local',
    },
  });
  const empty = ServiceSchema.parse({ metadata: { name: 'nobody', namespace: 'shop' }, spec: { clusterIP: '10.43.0.101', ports: [{ port: 81 }] } });
  const slice = EndpointSliceSchema.parse({
    metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.42.1.5'], conditions: { ready: true }, nodeName: 'box2' },
      { addresses: ['10.42.0.7'], conditions: { ready: true }, nodeName: 'box1' },
      { addresses: ['10.42.0.8'], nodeName: 'box1' },
    ],
    ports: [{ name: 'http', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }],
  });
  return {
    nodes: new Map(), namespaces: new Map(), pods: new Map(),
    services: new Map([web, empty].map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, serviceView(s)])),
    endpointSlices: new Map([['shop/web-abc', endpointSliceView(slice)]]),
  };
}

export interface SeineFlowSet {
  flows: Flow[];
  groups: Group[];
}

/** The agent's flows for a box with three pods, two peers, policies, Services, an Egress and two traces. */
export function seineFlows(scale = 1): SeineFlowSet {
  const cookies = new CookieAllocator(1);
  const pods = [
    { key: 'ns/a', ofport: 5, mac: '02:00:0a:2a:00:02', ip: '10.42.0.2' },
    { key: 'ns/b', ofport: 6, mac: '02:00:0a:2a:00:03', ip: '10.42.0.3' },
    { key: 'shop/web-1', ofport: 7, mac: '02:00:0a:2a:00:07', ip: '10.42.0.7' },
  ];
  const flows: Flow[] = [...defaultFlows(pipeline, 1)];
  flows.push(...connectivityFlows({
    podCIDR: '10.42.0.0/24', serviceCIDR: '10.43.0.0/16', gateway: { ofport: 2, mac: '02:00:0a:2a:00:01', ip: '10.42.0.1' }, tunnel: { ofport: 1 }, pods,
    peers: [{ name: 'box2', podCIDR: '10.42.1.0/24', underlayIP: '192.168.1.12', encap: true }, { name: 'box3', podCIDR: '10.42.2.0/24', underlayIP: '192.168.1.13', encap: false }],
  }, pipeline, cookies));
  const { flows: policy } = policyFlows({
    policies: { node: 'box1', rules: rules(scale), isolated: { ingress: [{ key: 'ns/b', ip: '10.42.0.3' }], egress: [{ key: 'ns/a', ip: '10.42.0.2' }] } },
    ofports: new Map(pods.map((p) => [p.key, p.ofport])), denyAccounting: true,
  }, pipeline, cookies);
  flows.push(...policy);
  const plans = planServices(inventory(), 'box1');
  const svc = serviceFlows(plans, { gatewayIP: '10.42.0.1', pods, groupIds: allocateGroupIds(groupKeys(plans)) }, pipeline, cookies);
  flows.push(...svc.flows);
  flows.push(...egressFlows([{ egress: 'eg-1', podIP: '10.42.0.2', egressNodeIP: '192.168.1.12' }, { egress: 'eg-1', podIP: '10.42.0.3', egressNodeIP: '192.168.1.12' }], '02:00:0a:2a:00:01', pipeline, cookies));
  flows.push(...accountingFlows(pipeline, cookies));
  flows.push(...traceflowFlows([
    { tag: 5 },
    { tag: 9, droppedOnly: true, live: { ofport: 5, mac: pods[0]!.mac, ip: pods[0]!.ip, filter: { dstIP: '10.42.1.5', protocol: 'tcp', dstPort: 80 } } },
    { tag: 11, live: { ofport: 6, mac: pods[1]!.mac, ip: pods[1]!.ip, filter: { protocol: 'icmp' } } },
  ], flows, pipeline, cookies));
  return { flows, groups: svc.groups };
}
