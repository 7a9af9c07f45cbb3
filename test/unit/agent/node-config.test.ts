// NodeConfig precedence on the box (merge.ts), the controller's span by reported node labels,
// and the agent realizer's refusal to turn on an exporter the box started without.
import assert from 'node:assert/strict';
import { AgentConfigSchema } from '../../../src/api/config.js';
import { findQualifiedKind } from '../../../src/api/kinds.js';
import { NodeConfigSpecSchema, type NodeConfigSpec } from '../../../src/api/node-config.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import { baseSettings, mergeNodeConfigs } from '../../../src/agent/node-config/merge.js';
import { NodeConfigAgent } from '../../../src/agent/node-config/realizer.js';
import { NodeConfigSpan } from '../../../src/controller/node-config-span.js';
import type { StoredRecord } from '../../../src/controller/store/objects.js';
import { getLogLevel, setLogLevel } from '../../../src/lib/log.js';

const spec = (s: Record<string, unknown>): NodeConfigSpec => NodeConfigSpecSchema.parse({ nodeSelector: {}, ...s });
const cfg = AgentConfigSchema.parse({ nodeName: 'box1', flowExporter: { pollIntervalSeconds: 5, flowCollectorAddr: '10.0.0.1:4739:udp' } });

describe('agent: NodeConfig settings', () => {
  it('takes each setting from the NodeConfig of lowest priority, then first name, and the rest from the config file', () => {
    const base = baseSettings(cfg, 'info');
    const s = mergeNodeConfigs(base, [
      { name: 'b-site', spec: spec({ priority: 10, flowExporter: { pollIntervalSeconds: 2, collectors: ['1.1.1.1:4739:udp'] }, logLevel: 'warn' }) },
      { name: 'a-site', spec: spec({ priority: 10, flowExporter: { pollIntervalSeconds: 1 } }) },
      { name: 'fleet', spec: spec({ priority: 200, logLevel: 'debug', statsIntervalSeconds: 7, flowExporter: { pollIntervalSeconds: 30, collectors: ['2.2.2.2:4739:udp'] } }) },
    ]);
    assert.equal(s.flowExporter.pollIntervalSeconds, 1, 'a-site: same priority as b-site, first by name');
    assert.deepEqual(s.flowExporter.collectors, ['1.1.1.1:4739:udp'], 'b-site: the highest precedence that sets collectors');
    assert.equal(s.logLevel, 'warn');
    assert.equal(s.statsIntervalSeconds, 7, 'only fleet sets it');
    assert.equal(s.flowExporter.activeFlowExportTimeoutSeconds, 5, 'from the config file');
    assert.deepEqual(mergeNodeConfigs(base, []), base, 'no NodeConfig: the config file\'s settings');
  });

  it('applies the log level live to loggers made before, and refuses enable on a box started without the exporter', async () => {
    const was = getLogLevel();
    const off = AgentConfigSchema.parse({ nodeName: 'box1', flowExporter: { enable: false } });
    const agent = new NodeConfigAgent(baseSettings(off, was));
    try {
      const key = (n: string) => `NodeConfig.seine.io//${n}`;
      const out = await agent.realize(new Map([
        [key('quiet'), { generation: 1, spec: { nodeSelector: {}, logLevel: 'error' } }],
        [key('flows-on'), { generation: 1, spec: { nodeSelector: {}, flowExporter: { enable: true } } }],
      ]));
      assert.deepEqual(out.get(key('quiet')), { ok: true });
      const refused = out.get(key('flows-on'));
      assert.ok(refused && !refused.ok && /flowExporter\.enable/.test(refused.reason), JSON.stringify(refused));
      assert.equal(getLogLevel(), 'error');
      await agent.realize(new Map());
      assert.equal(getLogLevel(), was, 'the last NodeConfig gone: the starting level again');
    } finally {
      setLogLevel(was);
    }
  });
});

describe('controller: NodeConfig span', () => {
  const record = (s: Record<string, unknown>): StoredRecord => ({ kind: findQualifiedKind('NodeConfig.seine.io')!, name: 'x', spec: spec(s) } as unknown as StoredRecord);
  const report = (labels: Record<string, string>): NodeReported => ({ inventory: { pods: [], nodeLabels: labels } } as unknown as NodeReported);

  it('selects the boxes whose reported labels match, by hostname too; boxes not heard from get none', () => {
    const span = new NodeConfigSpan();
    assert.equal(span.noteReport('box1', report({ site: 'edge' })), true);
    span.noteReport('box2', report({ site: 'edge' }));
    span.noteReport('box3', report({ site: 'core' }));
    assert.equal(span.noteReport('box3', report({ site: 'core' })), false, 'unchanged labels');
    const wrapped = span.wrap((_o, nodes) => nodes);
    const nodes = ['box1', 'box2', 'box3', 'box4'];
    assert.deepEqual(wrapped(record({ nodeSelector: { matchLabels: { site: 'edge' } } }), nodes), ['box1', 'box2']);
    assert.deepEqual(wrapped(record({ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'box3' } } }), nodes), ['box3']);
    assert.deepEqual(wrapped(record({ nodeSelector: {} }), nodes), ['box1', 'box2', 'box3']);
    span.forget('box2');
    assert.deepEqual(wrapped(record({ nodeSelector: { matchLabels: { site: 'edge' } } }), nodes), ['box1']);
  });
});
