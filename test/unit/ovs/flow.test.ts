import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_PRIORITY, flowKey, formatFlow, formatFlowSelector, parseDumpFlows, toOvsFlow } from '../../../src/agent/ovs/flow.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';

// Captured from `ovs-ofctl -O OpenFlow15 dump-flows` (Open vSwitch 3.1.0) after adding fixtures/authored-flows.txt.
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('ovs flow text', () => {
  const pipeline = Pipeline.build();

  it('formats a flow the way dump-flows --no-stats prints it', () => {
    const f = toOvsFlow({ table: 'SpoofGuard', priority: 200, match: ['ip', 'in_port=1', 'nw_src=10.10.0.2'], actions: ['goto_table:5'], cookie: 0x1000000000005n }, pipeline);
    assert.equal(f.tableId, 4);
    assert.equal(formatFlow(f), 'cookie=0x1000000000005, table=4, priority=200,ip,in_port=1,nw_src=10.10.0.2 actions=goto_table:5');
    assert.equal(formatFlowSelector(f), 'table=4, priority=200,ip,in_port=1,nw_src=10.10.0.2');
  });

  it('leaves out table 0, cookie 0 and the default priority like OVS does', () => {
    assert.equal(formatFlow({ tableId: 0, priority: 0, match: '', actions: 'drop', cookie: 0n }), 'priority=0 actions=drop');
    assert.equal(formatFlow({ tableId: 15, priority: DEFAULT_PRIORITY, match: '', actions: 'NORMAL', cookie: 0n }), 'table=15, actions=NORMAL');
    assert.equal(formatFlow({ tableId: 13, priority: DEFAULT_PRIORITY, match: 'reg1=0x5', actions: 'drop', cookie: 2n }), 'cookie=0x2, table=13, reg1=0x5 actions=drop');
    assert.equal(formatFlow({ tableId: 3, priority: 10, match: 'ip', actions: 'drop', cookie: 0n, idleTimeout: 60, hardTimeout: 300 }), 'table=3, idle_timeout=60, hard_timeout=300, priority=10,ip actions=drop');
  });

  it('rejects flows without actions or with an impossible priority', () => {
    assert.throws(() => toOvsFlow({ table: 'Output', priority: 1, match: [], actions: [], cookie: 0n }, pipeline), /no actions/);
    assert.throws(() => toOvsFlow({ table: 'Output', priority: 70000, match: [], actions: ['drop'], cookie: 0n }, pipeline), /priority/);
  });

  it('parses a real --no-stats dump', () => {
    const flows = parseDumpFlows(fixture('dump-flows-no-stats.txt'));
    assert.equal(flows.length, 22);
    assert.deepEqual(flows[0], { tableId: 0, priority: 200, match: 'arp', actions: 'goto_table:1', cookie: 0n });
    assert.equal(flows[1].cookie, 0x1000000000000n);
    const ct = flows.find((f) => f.tableId === 9)!;
    assert.equal(ct.priority, 0);
    assert.equal(ct.match, 'ip');
    assert.equal(ct.actions, 'ct(commit,zone=65520,exec(set_field:0x5->ct_mark,set_field:0xabcd/0xffffffff->ct_label)),output:NXM_NX_REG1[]');
    const dflt = flows.find((f) => f.tableId === 13)!;
    assert.equal(dflt.priority, DEFAULT_PRIORITY);
    assert.equal(dflt.match, 'reg1=0x5');
    const timed = flows.find((f) => f.tableId === 14)!;
    assert.deepEqual([timed.idleTimeout, timed.hardTimeout, timed.importance, timed.priority], [60, 300, 2, 100]);
    assert.equal(timed.match, 'udp,nw_dst=10.96.0.10,tp_dst=53');
    const bare = flows.find((f) => f.tableId === 15)!;
    assert.deepEqual([bare.match, bare.actions, bare.priority], ['', 'NORMAL', DEFAULT_PRIORITY]);
  });

  it('formats every parsed flow back to the exact line OVS printed', () => {
    const lines = fixture('dump-flows-no-stats.txt').split('\n').map((l) => l.trim()).filter((l) => l && !l.includes('send_flow_rem'));
    for (const line of lines) assert.equal(formatFlow(parseDumpFlows(line)[0]), line);
  });

  it('parses counters and durations of a dump with stats', () => {
    const flows = parseDumpFlows(fixture('dump-flows-stats.txt'));
    assert.equal(flows.length, 22);
    const hit = flows.find((f) => f.tableId === 3 && f.priority === 190)!;
    assert.equal(hit.nPackets, 1);
    assert.equal(hit.nBytes, 99);
    assert.equal(typeof hit.durationS, 'number');
    const nostats = parseDumpFlows(fixture('dump-flows-no-stats.txt'));
    assert.deepEqual(flows.map(flowKey), nostats.map(flowKey));
    assert.deepEqual(flows.map((f) => f.actions), nostats.map((f) => f.actions));
  });

  it('refuses flow text with a control character or actions in a match field (a value that slipped past validation)', () => {
    const tables = { id: () => 0 };
    const flow = (match: string[], actions = ['drop']) => ({ table: 'Classifier' as const, priority: 100, match, actions, cookie: 1n });
    assert.throws(() => toOvsFlow(flow(['ip', 'nw_dst=10.0.0.1\ntable=0,priority=65535,actions=NORMAL']), tables), /control character/);
    assert.throws(() => toOvsFlow(flow(['ip', 'nw_dst=10.0.0.1,actions=NORMAL']), tables), /carries actions/);
    assert.throws(() => toOvsFlow(flow(['ip'], ['set_field:10.0.0.1\r->tun_dst']), tables), /control character/);
    assert.equal(toOvsFlow(flow(['ip', 'nw_dst=10.0.0.1']), tables).match, 'ip,nw_dst=10.0.0.1');
  });
});
