// Host-local IPAM over a real SQLite file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Database } from '../../../src/lib/sqlite.js';
import { setLogLevel } from '../../../src/lib/log.js';
import { HostLocalIpam, PoolExhaustedError } from '../../../src/agent/ipam/host-local.js';
import { parsePodCidr } from '../../../src/agent/ipam/pod-cidr.js';

if (!process.env.SEINE_LOG_LEVEL) setLogLevel('error');
const owner = (i: number | string) => ({ containerId: `c${i}`, ifname: 'eth0', namespace: 'default', name: `pod-${i}` });

describe('host-local IPAM', () => {
  let dir: string;
  let db: Database;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'seine-ipam-'));
    db = await Database.open(path.join(dir, 'agent.db'));
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('parses a pod CIDR: gateway .1, pods from .2 to broadcast-1', () => {
    const p = parsePodCidr('10.42.3.77/24');
    assert.equal(p.cidr, '10.42.3.0/24');
    assert.equal(p.gateway, '10.42.3.1');
    assert.equal(p.size, 253);
    assert.throws(() => parsePodCidr('10.0.0.0/30'), /too small/);
    assert.throws(() => parsePodCidr('10.0.0/24'), /not an IPv4/);
  });

  it('skips network, gateway and broadcast, and exhausts with a clear error', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/29');
    const ips = [];
    for (let i = 0; i < 5; i++) ips.push((await ipam.allocate(owner(i))).ip);
    assert.deepEqual(ips, ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    await assert.rejects(ipam.allocate(owner(9)), (err: unknown) => err instanceof PoolExhaustedError && /10\.9\.0\.0\/29 is exhausted: all 5/.test(err.message));
  });

  it('a repeated allocate for the same container and ifname returns the same address', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/24');
    const a = await ipam.allocate(owner(1));
    const b = await ipam.allocate(owner(1));
    assert.deepEqual(b, a);
    assert.equal((await ipam.list()).length, 1);
    const other = await ipam.allocate({ ...owner(1), ifname: 'net1' });
    assert.notEqual(other.ip, a.ip, 'another interface of the same container gets its own address');
  });

  it('continues after the last address given out rather than reusing a released one at once', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/29');
    const a = await ipam.allocate(owner(1));
    await ipam.allocate(owner(2));
    assert.deepEqual(await ipam.release('c1', 'eth0'), a);
    assert.equal((await ipam.allocate(owner(3))).ip, '10.9.0.4');
    assert.equal(await ipam.release('c1', 'eth0'), undefined, 'release is idempotent');
  });

  it('concurrent allocations get distinct addresses', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/24');
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => ipam.allocate(owner(i))));
    assert.equal(new Set(all.map((a) => a.ip)).size, 40);
  });

  it('persists across reopening the database', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/24');
    const a = await ipam.allocate(owner(1));
    await db.close();
    db = await Database.open(path.join(dir, 'agent.db'));
    const again = await HostLocalIpam.open(db, '10.9.0.0/24');
    assert.deepEqual(await again.lookup('c1', 'eth0'), a);
    assert.equal((await again.allocate(owner(2))).ip, '10.9.0.3', 'the cursor persisted too');
  });

  it('reconcile releases allocations whose container has no OVS port and reports them', async () => {
    const ipam = await HostLocalIpam.open(db, '10.9.0.0/24');
    for (let i = 0; i < 4; i++) await ipam.allocate(owner(i));
    const released = await ipam.reconcile(new Set(['c0', 'c2']));
    assert.deepEqual(released.map((a) => a.containerId).sort(), ['c1', 'c3']);
    assert.deepEqual((await ipam.list()).map((a) => a.containerId).sort(), ['c0', 'c2']);
    assert.deepEqual(await ipam.reconcile(new Set(['c0', 'c2'])), []);
  });
});
