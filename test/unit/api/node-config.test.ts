// NodeConfig and NodeLatencyMonitor manifests: accepted as Antrea/Seine write them, and every
// bad field rejected with its path.
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseManifests } from '../../../src/api/manifest.js';
import { lookupKind } from '../../../src/api/kinds.js';
import { expectProblem, variant, type Obj } from './helpers.js';

const nc: Obj = {
  apiVersion: 'seine.io/v1alpha1',
  kind: 'NodeConfig',
  metadata: { name: 'edge-flows' },
  spec: {
    nodeSelector: { matchLabels: { site: 'edge' } },
    flowExporter: { pollIntervalSeconds: 1, collectors: ['172.31.250.1:4739:udp'], retention: { maxAgeDays: 1 } },
    logLevel: 'debug',
    statsIntervalSeconds: 5,
  },
};
const nlm: Obj = { apiVersion: 'crd.antrea.io/v1alpha1', kind: 'NodeLatencyMonitor', metadata: { name: 'default' }, spec: { pingIntervalSeconds: 10 } };

describe('api: NodeConfig and NodeLatencyMonitor', () => {
  it('parses both, with defaults (priority 100, ping interval 60 s)', () => {
    const [a, b] = parseManifests(stringify(nc) + '---\n' + stringify(variant(nlm, (o) => delete o.spec.pingIntervalSeconds)), 'x.yaml') as Obj[];
    assert.equal(a!.spec.priority, 100);
    assert.deepEqual(a!.spec.flowExporter.collectors, ['172.31.250.1:4739:udp']);
    assert.equal(b!.spec.pingIntervalSeconds, 60);
  });

  it('resolves the names seinectl takes', () => {
    assert.equal(lookupKind('nodeconfigs')?.kind, 'NodeConfig');
    assert.equal(lookupKind('nc')?.kind, 'NodeConfig');
    assert.equal(lookupKind('nlm')?.kind, 'NodeLatencyMonitor');
  });

  const cases: { title: string; base: Obj; edit: (o: Obj) => void; path: string; fragment: string }[] = [
    { title: 'poll interval below 0.5 s', base: nc, edit: (o) => (o.spec.flowExporter.pollIntervalSeconds = 0.1), path: 'spec.flowExporter.pollIntervalSeconds', fragment: '0.5' },
    { title: 'a collector that is no address', base: nc, edit: (o) => (o.spec.flowExporter.collectors = ['not an address']), path: 'spec.flowExporter.collectors[0]', fragment: '<host>:<port>' },
    { title: 'a tls collector (needs files on the box)', base: nc, edit: (o) => (o.spec.flowExporter.collectors = ['c.example:4739:tls']), path: 'spec.flowExporter.collectors[0]', fragment: 'tls' },
    { title: 'an unknown log level', base: nc, edit: (o) => (o.spec.logLevel = 'verbose'), path: 'spec.logLevel', fragment: 'info' },
    { title: 'no nodeSelector', base: nc, edit: (o) => delete o.spec.nodeSelector, path: 'spec.nodeSelector', fragment: '' },
    { title: 'an unknown field', base: nc, edit: (o) => (o.spec.flowExporter.pollInterval = '5s'), path: 'spec.flowExporter.pollInterval', fragment: 'unknown field' },
    { title: 'a stats interval of 0', base: nc, edit: (o) => (o.spec.statsIntervalSeconds = 0), path: 'spec.statsIntervalSeconds', fragment: '1' },
    { title: 'a monitor not named default', base: nlm, edit: (o) => (o.metadata.name = 'other'), path: 'metadata.name', fragment: 'singleton' },
    { title: 'a ping interval of 0', base: nlm, edit: (o) => (o.spec.pingIntervalSeconds = 0), path: 'spec.pingIntervalSeconds', fragment: '1' },
  ];
  for (const c of cases) it(`${c.title} → ${c.path}`, () => expectProblem(variant(c.base, c.edit), c.path, c.fragment));
});
