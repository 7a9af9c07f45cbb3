// The lab's Services: parsing of the CLI forms (errors quote the bad text), cluster IP and node
// port allocation, and the EndpointSlice computed from the pods matching the selector.
import assert from 'node:assert/strict';
import { EndpointSliceSchema, ServiceSchema } from '../../../src/api/k8s-core.js';
import { allocateService, parseAffinity, parseSelector, parseServicePorts, serviceObjects } from '../../../src/lab/services.js';

describe('lab Services', () => {
  it('parses ports, names several, and refuses bad ones naming them', () => {
    assert.deepEqual(parseServicePorts(['80:8080/TCP']), [{ name: '', port: 80, targetPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(parseServicePorts(['web=80:8080', '53/udp']).map((p) => `${p.name} ${p.port}:${p.targetPort}/${p.protocol}`), ['web 80:8080/TCP', 'udp-53 53:53/UDP']);
    assert.throws(() => parseServicePorts(['80:http']), /bad --port '80:http'/);
    assert.throws(() => parseServicePorts(['70000:80']), /port 70000 is not in 1-65535/);
    assert.throws(() => parseServicePorts(['80,80']), /duplicate --port 80\/TCP/);
    assert.throws(() => parseServicePorts([]), /needs at least one --port/);
  });

  it('parses affinity and selectors', () => {
    assert.equal(parseAffinity(undefined), undefined);
    assert.equal(parseAffinity('ClientIP'), 10_800);
    assert.equal(parseAffinity('ClientIP:60'), 60);
    assert.throws(() => parseAffinity('ClientIP:0'), /1-86400/);
    assert.throws(() => parseAffinity('Sticky'), /bad --affinity 'Sticky'/);
    assert.deepEqual(parseSelector('app=web,tier=front'), { app: 'web', tier: 'front' });
    assert.throws(() => parseSelector('app'), /bad --selector 'app'/);
    assert.throws(() => parseSelector(''), /needs a --selector/);
  });

  it('allocates the next free cluster IP and node ports, and refuses a duplicate', () => {
    const req = { namespace: 'default', name: 'a', type: 'NodePort' as const, selector: { app: 'a' }, ports: [{ name: 'x', port: 80, targetPort: 8080, protocol: 'TCP' as const }, { name: 'y', port: 81, targetPort: 8081, protocol: 'TCP' as const }], trafficPolicy: 'Cluster' as const };
    const a = allocateService(req, []);
    assert.equal(a.clusterIP, '10.43.0.100');
    assert.deepEqual(a.ports.map((p) => p.nodePort), [30000, 30001]);
    const b = allocateService({ ...req, name: 'b' }, [a]);
    assert.equal(b.clusterIP, '10.43.0.101');
    assert.deepEqual(b.ports.map((p) => p.nodePort), [30002, 30003]);
    assert.throws(() => allocateService(req, [a]), /service default\/a already exists/);
  });

  it('writes a k3s-shaped Service and an EndpointSlice of the running matching pods in its namespace', () => {
    const svc = allocateService({ namespace: 'default', name: 'web', type: 'ClusterIP', selector: { app: 'web' }, ports: [{ name: '', port: 80, targetPort: 8080, protocol: 'TCP' }], affinitySeconds: 60, trafficPolicy: 'Local' }, []);
    const pods = [
      { namespace: 'default', name: 'w2', box: 'box2', phase: 'running', labels: { app: 'web' }, ip: '10.42.1.2' },
      { namespace: 'default', name: 'w1', box: 'box1', phase: 'running', labels: { app: 'web' }, ip: '10.42.0.2' },
      { namespace: 'default', name: 'w3', box: 'box1', phase: 'creating', labels: { app: 'web' } },
      { namespace: 'other', name: 'w4', box: 'box1', phase: 'running', labels: { app: 'web' }, ip: '10.42.0.3' },
      { namespace: 'default', name: 'db', box: 'box1', phase: 'running', labels: { app: 'db' }, ip: '10.42.0.4' },
    ];
    const [service, slice] = serviceObjects(svc, pods, (k) => k);
    const s = ServiceSchema.parse(service);
    assert.equal(s.spec.sessionAffinity, 'ClientIP');
    assert.equal(s.spec.internalTrafficPolicy, 'Local');
    const e = EndpointSliceSchema.parse(slice);
    assert.equal(e.metadata.labels?.['kubernetes.io/service-name'], 'web');
    assert.deepEqual(e.endpoints.map((x) => `${x.addresses[0]} ${x.nodeName}`), ['10.42.0.2 box1', '10.42.1.2 box2']);
    assert.deepEqual(e.ports, [{ protocol: 'TCP', port: 8080 }]);
  });
});
