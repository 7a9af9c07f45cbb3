// Traceflow to a Service (destination.service): the sender's box turns it into the packet's
// ClusterIP and port (the first port without a protocol; the first of the protocol without a
// port), lists the endpoints its load balancing may pick, and refuses with a reason naming the
// spec field; the controller then plans receivers on the endpoints' nodes.
import assert from 'node:assert/strict';
import { endpointSliceView, serviceView } from '../../../src/agent/inventory/convert.js';
import type { Inventory } from '../../../src/api/inventory.js';
import { resolveServiceDestination } from '../../../src/agent/traceflow/service-destination.js';
import { EndpointSliceSchema, ServiceSchema } from '../../../src/api/k8s-core.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { TraceflowResolveResultSchema, type TraceflowSpec } from '../../../src/api/traceflow.js';
import { planTraceflow, withServiceDestination } from '../../../src/controller/traceflow/plan.js';
import { traceflowSpecFromFlags } from '../../../src/cli/traceflow-command.js';

function inventory(internal?: 'Local'): Inventory {
  const web = ServiceSchema.parse({
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      clusterIP: '10.43.0.100', selector: { app: 'web' }, ...(internal ? { internalTrafficPolicy: internal } : {}),
      ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'http', port: 80 }, { name: 'alt', port: 8080 }],
    },
  });
  const headless = ServiceSchema.parse({ metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', ports: [{ port: 5432 }] } });
  const sctp = ServiceSchema.parse({ metadata: { name: 'sig', namespace: 'shop' }, spec: { clusterIP: '10.43.0.101', ports: [{ protocol: 'SCTP', port: 9 }] } });
  const slice = EndpointSliceSchema.parse({
    metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.42.1.5'], conditions: { ready: true }, nodeName: 'box2' },
      { addresses: ['10.42.0.7'], conditions: { ready: true }, nodeName: 'box1' },
      { addresses: ['10.42.2.4'], conditions: { ready: false, serving: false }, nodeName: 'box3' },
    ],
    ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }, { name: 'http', port: 8000 }, { name: 'alt', port: 8001 }],
  });
  return {
    nodes: new Map(), namespaces: new Map(), pods: new Map(),
    services: new Map([web, headless, sctp].map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, serviceView(s)])),
    endpointSlices: new Map([['shop/web-abc', endpointSliceView(slice)]]),
  };
}

const service = { namespace: 'shop', name: 'web' };
const resolve = (req: Partial<Parameters<typeof resolveServiceDestination>[2]>, inv = inventory()) => {
  const r = resolveServiceDestination(inv, 'box1', { service, ...req });
  TraceflowResolveResultSchema.parse(r); // what goes on the wire
  return r;
};

describe('traceflow to a Service: resolution on the sender\'s box', () => {
  it('no protocol: the ClusterIP and the Service\'s first port, with the serving endpoints of that port', () => {
    assert.deepEqual(resolve({}), { destination: { dstIP: '10.43.0.100', protocol: 'udp', dstPort: 53, endpointIPs: ['10.42.0.7', '10.42.1.5'] } });
  });

  it('a protocol without a port: its first port; a port: that one', () => {
    assert.deepEqual(resolve({ protocol: 'tcp' }), { destination: { dstIP: '10.43.0.100', protocol: 'tcp', dstPort: 80, endpointIPs: ['10.42.0.7', '10.42.1.5'] } });
    assert.equal((resolve({ protocol: 'tcp', dstPort: 8080 }) as { destination: { dstPort: number } }).destination.dstPort, 8080);
  });

  it('ICMP goes to the ClusterIP unbalanced: no endpoints to listen on', () => {
    assert.deepEqual(resolve({ protocol: 'icmp' }), { destination: { dstIP: '10.43.0.100', protocol: 'icmp', endpointIPs: [] } });
  });

  it('internalTrafficPolicy Local: only this box\'s endpoints', () => {
    assert.deepEqual(resolve({ protocol: 'tcp' }, inventory('Local')), { destination: { dstIP: '10.43.0.100', protocol: 'tcp', dstPort: 80, endpointIPs: ['10.42.0.7'] } });
  });

  it('live traffic keeps the filter open: no port picked, endpoints of every port', () => {
    assert.deepEqual(resolve({ live: true }), { destination: { dstIP: '10.43.0.100', endpointIPs: ['10.42.0.7', '10.42.1.5'] } });
    assert.deepEqual(resolve({ live: true, protocol: 'tcp' }), { destination: { dstIP: '10.43.0.100', protocol: 'tcp', endpointIPs: ['10.42.0.7', '10.42.1.5'] } });
  });

  it('problems name the spec field', () => {
    const problem = (r: ReturnType<typeof resolve>) => ('problem' in r ? r.problem : JSON.stringify(r));
    assert.equal(problem(resolveServiceDestination(inventory(), 'box1', { service: { namespace: 'shop', name: 'nope' } })), 'destination.service: Service shop/nope does not exist (node box1 knows no such Service)');
    assert.equal(problem(resolveServiceDestination(inventory(), 'box1', { service: { namespace: 'shop', name: 'db' } })), 'destination.service: Service shop/db has no ClusterIP (headless or ExternalName)');
    assert.match(problem(resolveServiceDestination(inventory(), 'box1', { service: { namespace: 'shop', name: 'sig' } })), /^destination\.service: Service shop\/sig's first port 9\/SCTP is SCTP/);
    assert.equal(problem(resolve({ protocol: 'tcp', dstPort: 81 })), 'packet.transportHeader.tcp.dstPort: Service shop/web has no TCP port 81 (ports: 53/UDP, 80/TCP, 8080/TCP)');
    assert.equal(problem(resolveServiceDestination(inventory(), 'box1', { service: { namespace: 'shop', name: 'sig' }, protocol: 'udp' })), 'packet.transportHeader.udp: Service shop/sig has no UDP port (ports: 9/SCTP)');
  });
});

describe('traceflow to a Service: the controller\'s plan', () => {
  const reports = new Map<string, Pick<NodeReported, 'inventory'>>([
    ['box1', { inventory: { pods: [{ namespace: 'shop', name: 'client', ips: ['10.42.0.2'], labels: {} }, { namespace: 'shop', name: 'web-1', ips: ['10.42.0.7'], labels: {} }] } }],
    ['box2', { inventory: { pods: [{ namespace: 'shop', name: 'web-2', ips: ['10.42.1.5'], labels: {} }] } }],
  ]);
  const spec = (more: Partial<TraceflowSpec> = {}): TraceflowSpec => ({ source: { namespace: 'shop', pod: 'client' }, destination: { namespace: 'shop', service: 'web' }, ...more });

  it('leaves the Service to the sender, then sends to its ClusterIP with the endpoints\' other nodes listening', () => {
    const p = planTraceflow(spec({ packet: { ipHeader: { protocol: 6 } } }), reports);
    assert.deepEqual([p.sender, p.receivers, p.inject, p.live, p.service], ['box1', [], undefined, undefined, { service: { namespace: 'shop', name: 'web' }, protocol: 'tcp' }]);
    const done = withServiceDestination(spec({ packet: { ipHeader: { protocol: 6 } } }), p, { dstIP: '10.43.0.100', protocol: 'tcp', dstPort: 80, endpointIPs: ['10.42.0.7', '10.42.1.5', '10.42.9.9'] }, reports);
    assert.deepEqual(done.receivers, ['box2'], 'the sender is no receiver; an endpoint no node reports adds none');
    assert.deepEqual(done.inject, { sourcePod: { namespace: 'shop', name: 'client' }, dstIP: '10.43.0.100', protocol: 'tcp', dstPort: 80 });
  });

  it('no protocol in the spec: the resolver decides; live traffic gets the ClusterIP as its filter', () => {
    assert.equal(planTraceflow(spec(), reports).service?.protocol, undefined);
    const s = spec({ liveTraffic: true, packet: { transportHeader: { udp: { srcPort: 5000 } } } });
    const live = withServiceDestination(s, planTraceflow(s, reports), { dstIP: '10.43.0.100', protocol: 'udp', endpointIPs: [] }, reports);
    assert.deepEqual(live.live, { sourcePod: { namespace: 'shop', name: 'client' }, dstIP: '10.43.0.100', protocol: 'udp', srcPort: 5000 });
  });

  it('seinectl: svc/NAMESPACE/NAME without --protocol leaves the packet to the Service\'s first port', () => {
    assert.deepEqual(traceflowSpecFromFlags({ source: 'shop/client', destination: 'svc/shop/web' }), { source: { namespace: 'shop', pod: 'client' }, destination: { namespace: 'shop', service: 'web' } });
    assert.deepEqual(traceflowSpecFromFlags({ source: 'shop/client', destination: 'svc/shop/web', protocol: 'tcp', port: '8080' }).packet, { ipHeader: { protocol: 6 }, transportHeader: { tcp: { dstPort: 8080 } } });
  });
});
