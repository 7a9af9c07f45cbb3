import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PacketInEvent } from '../../../src/agent/ovs/packet-in.js';
import { parsePacketLine } from '../../../src/agent/ovs/packet-in.js';
import type { RealizedRule } from '../../../src/agent/policy/flows.js';
import { PolicyLogger, logField, logFields, logTimestamp } from '../../../src/agent/policy/log.js';
import { metricConjId, metricOf, ruleStats, ruleStatsOf } from '../../../src/agent/policy/stats.js';
import type { OxmField } from '../../../src/lib/openflow/oxm.js';

const rule = (action: 'Allow' | 'Drop', conjId: number): RealizedRule => ({
  rule: {
    id: `r${conjId}`, policy: { kind: 'AntreaClusterNetworkPolicy', name: 'acnp' }, ruleName: 'rule-a', direction: 'ingress', action, layer: 'antrea',
    tier: 'application', order: { tierPriority: 250, policyPriority: 1, ruleIndex: 0 }, targets: [{ key: 'default/web', ip: '10.0.0.5' }],
    peers: { any: true, ips: [], cidrs: [] }, enableLogging: true,
  },
  conjId, table: 'AntreaPolicyIngressRule', priority: 14500, cookie: 0x42n,
});
const ev: PacketInEvent = {
  tableId: 26, cookie: 0x42n, reason: 'action', totalLen: 74, inPort: 3, metadata: {},
  packet: parsePacketLine('tcp,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.4,nw_dst=10.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=40000,tp_dst=80,tcp_flags=syn tcp_csum:0'),
};

describe('policy logging and stats', () => {
  it('formats timestamps as Go log with microseconds', () => {
    assert.equal(logTimestamp(new Date(2020, 10, 2, 22, 21, 21, 148)), '2020/11/02 22:21:21.148000');
  });

  it('writes Antrea\'s np.log line, folds denied duplicates and rotates by size', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'seine-nplog-'));
    try {
      const events: string[] = [];
      const l = new PolicyLogger({ dir, maxBytes: 400, maxFiles: 2, dedupMs: 50, now: () => new Date(2020, 10, 2, 22, 21, 21), onRecord: (r) => events.push(r.line) });
      l.log(ev, rule('Drop', 7));
      l.log(ev, rule('Drop', 7));
      await new Promise((r) => setTimeout(r, 100));
      const lines = readFileSync(path.join(dir, 'np.log'), 'utf8').trim().split('\n');
      assert.equal(lines[0], '2020/11/02 22:21:21.000000 AntreaPolicyIngressRule AntreaClusterNetworkPolicy:acnp rule-a Ingress Drop 14500 default/web 10.0.0.4 40000 10.0.0.5 80 TCP 60 <nil>');
      assert.match(lines[1]!, /\[2 packets in 0s\]$/);
      assert.equal(events.length, 2);
      for (let i = 0; i < 5; i++) l.log(ev, rule('Allow', 8));
      assert.deepEqual(readdirSync(dir).sort(), ['np.log', 'np.log.1', 'np.log.2']);
      l.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('escapes free-text names in np.log: a rule name cannot add fields or forge a line', () => {
    const forged = rule('Drop', 9);
    forged.rule.ruleName = 'r1 Ingress Allow\n2020/11/02 22:21:21.000000 AntreaPolicyIngressRule x';
    forged.rule.policy = { kind: 'AntreaClusterNetworkPolicy', name: 'p\u2028q' };
    forged.rule.targets = [{ key: 'default/we b', ip: '10.0.0.5' }];
    const f = logFields(ev, forged);
    assert.equal(f.text.includes('\n'), false);
    const fields = f.text.split(' ');
    assert.equal(fields.length, 14, 'Antrea\'s 14 fields after the timestamp');
    assert.equal(fields[1], 'AntreaClusterNetworkPolicy:p\\u{2028}q');
    assert.equal(fields[2], 'r1\\x20Ingress\\x20Allow\\x0a2020/11/02\\x2022:21:21.000000\\x20AntreaPolicyIngressRule\\x20x');
    assert.equal(fields[6], 'default/we\\x20b');
    assert.equal(logField('a\\b\tc\u0000'), 'a\\x5cb\\x09c\\x00', 'the backslash itself is escaped, so the escaping is unambiguous');
    assert.equal(logField(''), '<nil>');
    assert.equal(logField('rule-a'), 'rule-a');
  });

  it('sums metric flows per rule: Allow sessions from +new, denied packets as sessions', () => {
    assert.equal(metricConjId('ct_state=+new,ct_label=0x7/0xffffffff,ip'), 7);
    assert.equal(metricConjId('ct_state=-new,ct_label=0x900000000/0xffffffff00000000,ip'), 9);
    assert.equal(metricConjId('reg0=0x400/0x400,reg3=0xb'), 11);
    const rules = new Map([[7, rule('Allow', 7)], [11, rule('Drop', 11)]]);
    const flows = [
      { tableId: 27, priority: 200, match: 'ct_state=+new,ct_label=0x7/0xffffffff,ip', actions: '', cookie: 0x42n, nPackets: 3, nBytes: 180 },
      { tableId: 27, priority: 200, match: 'ct_state=-new,ct_label=0x7/0xffffffff,ip', actions: '', cookie: 0x42n, nPackets: 10, nBytes: 1000 },
      { tableId: 27, priority: 200, match: 'reg0=0x400/0x400,reg3=0xb', actions: '', cookie: 0x42n, nPackets: 2, nBytes: 120 },
    ];
    const s = ruleStats(flows, new Set([27]), (id) => rules.get(id));
    assert.deepEqual(s.map((x) => [x.ruleId, x.packets, x.bytes, x.sessions]), [['r11', 2, 120, 2], ['r7', 13, 1180, 3]]);
    // After an agent restart unchanged flows keep the cookie of the round that wrote them.
    const olderRound = flows.map((f) => ({ ...f, cookie: f.cookie | (3n << 48n) }));
    assert.deepEqual(ruleStats(olderRound, new Set([27]), (id) => rules.get(id)).map((x) => x.packets), [2, 13]);
    // A flow of another owner (other category or object) is not counted.
    assert.deepEqual(ruleStats([{ ...flows[0]!, cookie: 0x43n }], new Set([27]), (id) => rules.get(id)), []);
  });

  it('reads the same from decoded matches (flow stats over OpenFlow)', () => {
    const rules = new Map([[7, rule('Allow', 7)], [11, rule('Drop', 11)]]);
    const u32 = (v: number) => Buffer.from([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
    const label = (id: number, high: boolean): OxmField => {
      const value = Buffer.alloc(16);
      const mask = Buffer.alloc(16);
      value.writeUInt32BE(id, high ? 8 : 12);
      mask.writeUInt32BE(0xffffffff, high ? 8 : 12);
      return { name: 'ct_label', kind: 'int', value, mask };
    };
    const state = (isNew: boolean): OxmField => ({ name: 'ct_state', kind: 'ct_state', value: u32(isNew ? 0x21 : 0x20), mask: u32(0x21) });
    const entry = (match: OxmField[], packets: number, bytes: number) => ({ tableId: 27, priority: 200, idleTimeout: 0, hardTimeout: 0, flags: 0, importance: 0, cookie: 0x42n, durationS: 1, packets, bytes, match });
    assert.deepEqual(metricOf([state(true), label(9, true)]), { conjId: 9, newSessions: true });
    const s = ruleStatsOf([
      entry([state(true), label(7, false)], 3, 180),
      entry([state(false), label(7, false)], 10, 1000),
      entry([{ name: 'reg3', kind: 'int', value: u32(11) }], 2, 120),
    ], new Set([27]), (id) => rules.get(id));
    assert.deepEqual(s.map((x) => [x.ruleId, x.packets, x.bytes, x.sessions]), [['r11', 2, 120, 2], ['r7', 13, 1180, 3]]);
  });
});
