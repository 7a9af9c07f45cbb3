import assert from 'node:assert/strict';
import { decodeCookie } from '../../../src/agent/ovs/cookie.js';
import { Pipeline, tableDeclarations } from '../../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../../src/agent/ovs/default-flows.js';

describe('ovs pipeline', () => {
  it("numbers the default pipeline in Antrea's order", () => {
    const p = Pipeline.build();
    assert.deepEqual(p.tables.map((t) => t.name), [
      'PipelineRootClassifier', 'ARPSpoofGuard', 'ARPResponder', 'Classifier', 'SpoofGuard', 'UnSNAT', 'ConntrackZone',
      'ConntrackState', 'PreRoutingClassifier', 'SessionAffinity', 'ServiceLB', 'EndpointDNAT', 'AntreaPolicyEgressRule',
      'EgressRule', 'EgressDefaultRule', 'EgressMetric', 'L3Forwarding', 'EgressMark', 'L3DecTTL', 'SNATMark', 'SNAT',
      'L2ForwardingCalc', 'IngressSecurityClassifier', 'AntreaPolicyIngressRule', 'IngressRule', 'IngressDefaultRule',
      'IngressMetric', 'ConntrackCommit', 'Output', 'FlowAccounting', 'DenyAccounting',
    ]);
    p.tables.forEach((t, i) => assert.equal(t.id, i));
    assert.equal(p.id('Classifier'), 3);
    assert.equal(p.nameOf(28), 'Output');
    assert.equal(p.goto('SpoofGuard'), 'goto_table:4');
    assert.equal(p.resubmit('Output'), 'resubmit(,28)');
  });

  it('drops on miss in guard tables and at the end of each sub-pipeline, passes through elsewhere', () => {
    const p = Pipeline.build();
    const drops = p.tables.filter((t) => t.missAction === 'drop').map((t) => t.name);
    assert.deepEqual(drops, ['PipelineRootClassifier', 'ARPSpoofGuard', 'ARPResponder', 'Classifier', 'SpoofGuard', 'Output', 'FlowAccounting', 'DenyAccounting']);
    assert.equal(p.table('Output').next, undefined); // the stats tables are only resubmitted to
    assert.equal(p.table('ARPSpoofGuard').next, 'ARPResponder');
    assert.equal(p.table('ARPResponder').next, undefined); // last of the arp sub-pipeline
    assert.equal(p.table('EgressRule').next, 'EgressDefaultRule');
    assert.equal(p.table('ConntrackCommit').next, 'Output');
  });

  it('makes one miss flow per table plus the root ARP/IP dispatch, owned by the Default category', () => {
    const p = Pipeline.build();
    const flows = defaultFlows(p, 5);
    assert.equal(flows.length, p.tables.length + 2);
    const miss = (name: string) => flows.find((f) => f.table === name && f.priority === 0)!;
    assert.deepEqual(miss('AntreaPolicyEgressRule').actions, ['goto_table:13']);
    assert.deepEqual(miss('IngressMetric').actions, ['goto_table:27']);
    assert.deepEqual(miss('SpoofGuard').actions, ['drop']);
    assert.deepEqual(miss('Output').actions, ['drop']);
    const root = flows.filter((f) => f.table === 'PipelineRootClassifier' && f.priority === 200);
    assert.deepEqual(root.map((f) => [f.match, f.actions]), [[['arp'], ['goto_table:1']], [['ip'], ['goto_table:3']]]);
    for (const f of flows) assert.deepEqual(decodeCookie(f.cookie), { round: 5, category: 0, objectId: 0n });
  });

  it('numbers only the tables of enabled features, in declaration order', () => {
    const p = Pipeline.build(['podConnectivity']);
    assert.deepEqual(p.tables.map((t) => t.name), [
      'PipelineRootClassifier', 'ARPSpoofGuard', 'ARPResponder', 'Classifier', 'SpoofGuard', 'ConntrackZone', 'ConntrackState',
      'L3Forwarding', 'L3DecTTL', 'L2ForwardingCalc', 'ConntrackCommit', 'Output',
    ]);
    assert.equal(p.table('L3DecTTL').next, 'L2ForwardingCalc');
    assert.ok(!p.has('IngressRule'));
    assert.throws(() => p.id('IngressRule'), /not in this pipeline/);
    assert.equal(p.gotoStage('ingressSecurity'), p.goto('ConntrackCommit'));
    const withNodePort = Pipeline.build(['podConnectivity', 'service', 'nodePortService']);
    assert.equal(withNodePort.table('PreRoutingClassifier').next, 'NodePortMark');
  });

  it('declares every table once', () => {
    const names = tableDeclarations.map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
  });
});
