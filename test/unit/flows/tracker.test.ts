import assert from 'node:assert/strict';
import type { ConntrackEntry, Counters } from '../../../src/agent/flows/conntrack.js';
import { ConnectionTracker, FlowEndReason } from '../../../src/agent/flows/tracker.js';

const entry = (c: Partial<Counters>, tcpState = 'ESTABLISHED'): ConntrackEntry => ({
  protocol: 6, orig: { src: '10.42.0.2', dst: '10.42.1.2', sport: 40000, dport: 80 }, reply: { src: '10.42.1.2', dst: '10.42.0.2', sport: 80, dport: 40000 },
  zone: 65520, mark: 0, labels: 0n, tcpState, counters: { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0, ...c },
});
const one = (e: ConntrackEntry) => new Map([['k', e]]);

describe('flows: connection tracker', () => {
  it('records a new connection at once, then every active timeout while it changes, idle once, and its end', () => {
    const t = new ConnectionTracker({ activeTimeoutS: 5, idleTimeoutS: 15 });
    let due = t.observe(one(entry({ packets: 3, octets: 180 })), 100);
    assert.equal(due.length, 1);
    assert.equal(due[0]!.reason, FlowEndReason.ActiveTimeout);
    assert.deepEqual(due[0]!.delta, { packets: 3, octets: 180, reversePackets: 0, reverseOctets: 0 });
    assert.equal(t.observe(one(entry({ packets: 5, octets: 300 })), 102).length, 0, 'changed but within the active timeout');
    due = t.observe(one(entry({ packets: 6, octets: 360 })), 105);
    assert.equal(due.length, 1);
    assert.deepEqual(due[0]!.delta, { packets: 3, octets: 180, reversePackets: 0, reverseOctets: 0 }, 'delta since the last record');
    assert.equal(due[0]!.conn.totals.packets, 6);
    assert.equal(t.observe(one(entry({ packets: 6, octets: 360 })), 110).length, 0, 'unchanged: nothing new');
    due = t.observe(one(entry({ packets: 6, octets: 360 })), 120);
    assert.equal(due[0]?.reason, FlowEndReason.IdleTimeout);
    assert.equal(t.observe(one(entry({ packets: 6, octets: 360 })), 140).length, 0, 'idle is recorded once');
    due = t.observe(new Map(), 145);
    assert.equal(due[0]?.reason, FlowEndReason.EndOfFlow);
    assert.equal(t.size, 0);
  });

  it('adds a restarted counter instead of going backwards (learned flow idled out, OVS restarted)', () => {
    const t = new ConnectionTracker({ activeTimeoutS: 5, idleTimeoutS: 15 });
    t.observe(one(entry({ packets: 10, octets: 1000 })), 0);
    const due = t.observe(one(entry({ packets: 2, octets: 200 })), 5);
    assert.equal(due[0]!.conn.totals.packets, 12);
    assert.equal(due[0]!.conn.totals.octets, 1200);
    assert.equal(due[0]!.delta.packets, 2);
  });

  it('a TCP state change alone is news', () => {
    const t = new ConnectionTracker({ activeTimeoutS: 5, idleTimeoutS: 15 });
    t.observe(one(entry({ packets: 1 })), 0);
    const due = t.observe(one(entry({ packets: 1 }, 'TIME_WAIT')), 5);
    assert.equal(due.length, 1);
    assert.equal(due[0]!.conn.entry.tcpState, 'TIME_WAIT');
  });
});
