// The box side of FQDN peers without a lab: the cache's TTL rules (Antrea's onDNSResponse),
// its limits, the interception flows, DNS payloads out of real frames, and the interceptor's
// order — flows synced before the held answer is released, dropped when they cannot be.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FqdnCache, patternMatches } from '../../../src/agent/fqdn/cache.js';
import { loadCache, saveCache } from '../../../src/agent/fqdn/persist.js';
import { DnsInterceptor, decodeDnsUserdata, dnsPayload, encodeDnsUserdata, PRIORITY_DNS_INTERCEPT } from '../../../src/agent/fqdn/intercept.js';
import { dnsInterceptFlows } from '../../../src/agent/fqdn/feature.js';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { parseFrame } from '../../../src/agent/ovs/packet-fields.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import { policyFlows } from '../../../src/agent/policy/flows.js';
import type { PacketInEvent } from '../../../src/agent/ovs/packet-in.js';
import type { PacketOut } from '../../../src/agent/ovs/packet-out.js';
import type { InternalRule, NodePolicySet } from '../../../src/policy/compute/types.js';

const S = 1000;

describe('fqdn: the cache', () => {
  it('matches as Antrea: exact names, and `*suffix` for the suffix itself and anything ending in it', () => {
    assert.ok(patternMatches('allowed.seine.test', 'allowed.seine.test'));
    assert.ok(!patternMatches('allowed.seine.test', 'x.allowed.seine.test'));
    assert.ok(patternMatches('*.example.com', 'a.b.example.com'));
    assert.ok(!patternMatches('*.example.com', 'example.com'));
    assert.ok(patternMatches('*example.com', 'example.com'), '*foobar.com matches foobar.com (Antrea docs)');
    assert.ok(patternMatches('*example.com', 'myexample.com'));
  });

  it('keeps only names a pattern selects; an answer is new exactly when it adds an address', () => {
    const c = new FqdnCache();
    c.setPatterns(['allowed.seine.test', '*.example.com']);
    assert.equal(c.learn(['unrelated.test'], [{ address: '192.0.2.1', ttl: 30 }], 0), false);
    assert.equal(c.size, 0);
    assert.equal(c.learn(['allowed.seine.test'], [{ address: '172.31.254.11', ttl: 4 }], 0), true);
    assert.equal(c.learn(['allowed.seine.test'], [{ address: '172.31.254.11', ttl: 4 }], 1 * S), false, 'same address: nothing to sync');
    assert.deepEqual(c.addressesFor(['allowed.seine.test']), ['172.31.254.11']);
    assert.deepEqual(c.addressesFor(['*.example.com']), []);
  });

  it('follows a changed answer as Antrea does: the old address stays until its own expiry, then goes', () => {
    const c = new FqdnCache();
    c.setPatterns(['allowed.seine.test']);
    c.learn(['allowed.seine.test'], [{ address: '172.31.254.11', ttl: 4 }], 0);
    assert.equal(c.learn(['allowed.seine.test'], [{ address: '172.31.254.13', ttl: 4 }], 2 * S), true);
    assert.deepEqual(c.addressesFor(['allowed.seine.test']), ['172.31.254.11', '172.31.254.13'], 'both within their TTL');
    assert.equal(c.nextExpiry(), 4 * S);
    assert.equal(c.expire(4 * S), true);
    assert.deepEqual(c.addressesFor(['allowed.seine.test']), ['172.31.254.13']);
    assert.equal(c.expire(6 * S), true);
    assert.equal(c.size, 0, 'a name without addresses is forgotten');
  });

  it('an address answered again keeps the later expiry; minTTL holds an address at least that long', () => {
    const c = new FqdnCache({ minTTL: 30 });
    c.setPatterns(['a.test']);
    c.learn(['a.test'], [{ address: '192.0.2.1', ttl: 4 }], 0);
    assert.deepEqual(c.entries(), [{ fqdn: 'a.test', address: '192.0.2.1', expiresAt: 30 * S }], 'TTL 4 raised to minTTL 30');
    c.learn(['a.test'], [{ address: '192.0.2.1', ttl: 60 }], 10 * S);
    assert.equal(c.entries()[0]!.expiresAt, 70 * S);
    c.learn(['a.test'], [{ address: '192.0.2.1', ttl: 1 }], 20 * S);
    assert.equal(c.entries()[0]!.expiresAt, 70 * S, 'a shorter answer does not cut an address short');
  });

  it('a pattern removed from the policies forgets its names (and says the flows change)', () => {
    const c = new FqdnCache();
    c.setPatterns(['a.test', '*.b.test']);
    c.learn(['x.b.test'], [{ address: '192.0.2.2', ttl: 60 }], 0);
    assert.equal(c.setPatterns(['a.test']), true);
    assert.equal(c.size, 0);
  });

  it('limits names tracked through wildcards (per pattern, then in all), evicting the least recently resolved; exact names never go', () => {
    const c = new FqdnCache({ maxPerWildcard: 3, maxWildcardNames: 4 });
    c.setPatterns(['*.a.test', '*.b.test', 'keep.a.test']);
    c.learn(['keep.a.test'], [{ address: '192.0.2.100', ttl: 60 }], 0);
    for (let i = 1; i <= 4; i++) c.learn([`n${i}.a.test`], [{ address: `192.0.2.${i}`, ttl: 60 }], i);
    assert.deepEqual(c.entries().map((e) => e.fqdn), ['keep.a.test', 'n2.a.test', 'n3.a.test', 'n4.a.test'], 'n1 went: 3 per wildcard');
    assert.equal(c.evictions.perWildcard, 1);
    c.learn(['n2.a.test'], [{ address: '192.0.2.2', ttl: 60 }], 10); // n2 resolved again: now the most recent
    c.learn(['m1.b.test'], [{ address: '192.0.2.51', ttl: 60 }], 11);
    c.learn(['m2.b.test'], [{ address: '192.0.2.52', ttl: 60 }], 12);
    assert.deepEqual(c.entries().map((e) => e.fqdn), ['keep.a.test', 'm1.b.test', 'm2.b.test', 'n2.a.test', 'n4.a.test'], 'n3 (least recent) went: 4 wildcard names in all');
    assert.equal(c.evictions.total, 1);
  });
});

// An Ethernet + IPv4 + UDP/TCP frame from port 53 carrying `dns` (checksums are not checked).
function frame(proto: 'udp' | 'tcp', dns: Buffer, opts: { tcpCut?: boolean } = {}): Buffer {
  const l4 = proto === 'udp'
    ? Buffer.concat([Buffer.from([0, 53, 0x9c, 0x40]), Buffer.from([(8 + dns.length) >> 8, (8 + dns.length) & 0xff, 0, 0]), dns])
    : Buffer.concat([Buffer.from([0, 53, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]), Buffer.from([(dns.length + (opts.tcpCut ? 10 : 0)) >> 8, (dns.length + (opts.tcpCut ? 10 : 0)) & 0xff]), dns]);
  const total = 20 + l4.length;
  const ip = Buffer.from([0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 63, proto === 'udp' ? 17 : 6, 0, 0, 172, 31, 254, 10, 10, 42, 0, 2]);
  return Buffer.concat([Buffer.from('aabbccddeeff0011223344550800', 'hex'), ip, l4]);
}
// allowed.seine.test A 172.31.254.11 TTL 4
const answer = Buffer.from('1234818000010001000000000761'
  + Buffer.from('llowed', 'latin1').toString('hex') + '057365696e6504746573740000010001c00c000100010000000400' + '04ac1ffe0b', 'hex');

describe('fqdn: frames and the interceptor', () => {
  it('finds the DNS message in UDP, and in a TCP segment only when it holds the whole length-prefixed message', () => {
    assert.deepEqual(dnsPayload(frame('udp', answer)), answer);
    assert.deepEqual(dnsPayload(frame('tcp', answer)), answer);
    assert.equal(dnsPayload(frame('tcp', answer, { tcpCut: true })), undefined, 'the message continues in a later segment');
  });

  it('userdata carries the pod port the held answer goes to', () => {
    assert.deepEqual(decodeDnsUserdata(Buffer.from(encodeDnsUserdata(7).replace(/\./g, ''), 'hex')), { ofport: 7 });
    assert.equal(decodeDnsUserdata(Buffer.from('0100000000', 'hex')), undefined, 'a policy packet-in is not ours');
  });

  const event = (raw: Buffer, ofport = 7): PacketInEvent => ({
    tableId: 0, cookie: 0n, reason: 'action', totalLen: raw.length, inPort: 2, metadata: {},
    userdata: Buffer.from(encodeDnsUserdata(ofport).replace(/\./g, ''), 'hex'), packet: parseFrame(raw), raw,
  });

  it('syncs the flows before releasing a new answer to the pod port; a known answer goes straight out', async () => {
    const order: string[] = [];
    const outs: PacketOut[] = [];
    const cache = new FqdnCache();
    cache.setPatterns(['allowed.seine.test']);
    const i = new DnsInterceptor({
      cache, now: () => 0,
      sync: async () => {
        order.push(`sync with ${cache.addressesFor(['allowed.seine.test']).join(',')}`);
        await new Promise((r) => setTimeout(r, 20));
        order.push('synced');
      },
      packetOut: async (p) => void (order.push('released'), outs.push(p)),
    });
    const raw = frame('udp', answer);
    await i.onPacketIn(event(raw));
    assert.deepEqual(order, ['sync with 172.31.254.11', 'synced', 'released']);
    assert.deepEqual(outs[0], { inPort: 'controller', packetHex: raw.toString('hex'), actions: ['output:7'] });
    await i.onPacketIn(event(raw));
    assert.deepEqual(order.slice(3), ['released'], 'nothing new: no sync');
  });

  it('drops the answer when the flows are not in within the timeout (the pod asks again), and releases what it cannot read', async () => {
    const outs: PacketOut[] = [];
    const cache = new FqdnCache();
    cache.setPatterns(['allowed.seine.test']);
    const i = new DnsInterceptor({ cache, now: () => 0, timeoutMs: 50, sync: () => new Promise(() => undefined), packetOut: async (p) => void outs.push(p) });
    await i.onPacketIn(event(frame('udp', answer)));
    assert.equal(outs.length, 0);
    assert.equal(i.counts.dropped, 1);
    await i.onPacketIn(event(frame('udp', Buffer.from('not dns'))));
    assert.equal(outs.length, 1, 'an unreadable packet from port 53 goes on unchanged');
    assert.equal(i.counts.unreadable, 1);
  });
});

describe('fqdn: flows', () => {
  const pipeline = Pipeline.build();
  const cookies = new CookieAllocator(1);
  const rule = (over: Partial<InternalRule>): InternalRule => ({
    id: 'acnp/c/egress/0', policy: { kind: 'AntreaClusterNetworkPolicy', name: 'c' }, ruleName: 'allow-allowed', direction: 'egress', action: 'Allow',
    layer: 'antrea', tier: 'application', order: { tierPriority: 250, policyPriority: 5, ruleIndex: 0 },
    targets: [{ key: 'default/p1', ip: '10.42.0.2' }], peers: { any: false, ips: [], cidrs: [], fqdns: ['allowed.seine.test'] },
    services: [{ protocol: 'TCP', port: 8080 }], enableLogging: false, ...over,
  });
  const set = (rules: InternalRule[]): NodePolicySet => ({ node: 'n1', rules, isolated: { ingress: [], egress: [] } });

  it('intercepts tracked replies from port 53 (UDP and TCP) to the pods of fqdn egress rules only', () => {
    const flows = dnsInterceptFlows({ policies: set([rule({}), rule({ id: 'x', targets: [{ key: 'default/p2', ip: '10.42.0.3' }], peers: { any: false, ips: ['10.0.0.1'], cidrs: [] } })]), ofports: new Map([['default/p1', 5], ['default/p2', 6]]) }, cookies);
    assert.deepEqual(flows.map((f) => [f.table, f.priority, f.match.join(','), f.actions.join(',')]), [
      ['AntreaPolicyIngressRule', PRIORITY_DNS_INTERCEPT, 'ct_state=+rpl+trk,udp,reg1=0x5,tp_src=53', 'controller(userdata=03.00.00.00.05)'],
      ['AntreaPolicyIngressRule', PRIORITY_DNS_INTERCEPT, 'ct_state=+rpl+trk,tcp,reg1=0x5,tp_src=53', 'controller(userdata=03.00.00.00.05)'],
    ]);
  });

  it('an fqdn rule keeps its action and target flows before any name is resolved, and gets a peer clause per address after', () => {
    const peerClauses = (addresses: string[]) => {
      const r = policyFlows({ policies: set([rule({})]), ofports: new Map(), fqdnAddresses: () => addresses }, pipeline, cookies);
      assert.equal(r.realized.length, 1, 'realized (stats, np.log and Traceflow know it)');
      assert.ok(r.flows.some((f) => f.match.includes('conj_id=' + r.realized[0]!.conjId)), 'action flow');
      return r.flows.filter((f) => f.actions.some((a) => /conjunction\(\d+,2\/3\)/.test(a))).map((f) => f.match.join(','));
    };
    assert.deepEqual(peerClauses([]), [], 'no address: the conjunction never completes');
    assert.deepEqual(peerClauses(['172.31.254.11', '172.31.254.13', '2001:db8::1']), ['ip,nw_dst=172.31.254.11', 'ip,nw_dst=172.31.254.13'], 'IPv4 only, as the datapath');
  });
});

describe('fqdn: the cache across restarts', () => {
  let dir = '';
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'seine-fqdn-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('saves and restores unexpired entries', async () => {
    const file = path.join(dir, 'fqdn-cache.json');
    const c = new FqdnCache();
    c.setPatterns(['a.test', 'b.test']);
    c.learn(['a.test'], [{ address: '192.0.2.1', ttl: 60 }], 0);
    c.learn(['b.test'], [{ address: '192.0.2.2', ttl: 5 }], 0);
    await saveCache(file, c.entries());
    const back = new FqdnCache();
    back.restore(await loadCache(file), 10 * S);
    assert.deepEqual(back.entries(), [{ fqdn: 'a.test', address: '192.0.2.1', expiresAt: 60 * S }], 'b.test expired while the agent was down');
  });

  it('refuses a file whose addresses could reach a flow as text: starts empty', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ version: 1, entries: [{ fqdn: 'a.test', address: '192.0.2.1,actions=NORMAL', expiresAt: 1e15 }] }));
    assert.deepEqual(await loadCache(file), []);
    assert.deepEqual(await loadCache(path.join(dir, 'none.json')), [], 'no file: empty');
    assert.ok((await readFile(file, 'utf8')).includes('actions'), 'the file is left for inspection');
  });
});
