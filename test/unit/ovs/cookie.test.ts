import assert from 'node:assert/strict';
import {
  Category, CookieAllocator, ROUND_MASK, categoryFilter, categoryName, decodeCookie, encodeCookie, formatCookieFilter,
  matchesFilter, objectFilter, objectIdOf, roundFilter, sameOwner,
} from '../../../src/agent/ovs/cookie.js';

describe('ovs cookies', () => {
  it('packs round, category and object id like Antrea (16 | 8 | 40 bits)', () => {
    const c = encodeCookie({ round: 3, category: Category.NetworkPolicy, objectId: 0x12345n });
    assert.equal(c, 0x0003_02_0000012345n);
    assert.deepEqual(decodeCookie(c), { round: 3, category: 2, objectId: 0x12345n });
    const max = encodeCookie({ round: 0xffff, category: 0xff, objectId: (1n << 40n) - 1n });
    assert.equal(max, (1n << 64n) - 1n);
    assert.deepEqual(decodeCookie(max), { round: 0xffff, category: 0xff, objectId: (1n << 40n) - 1n });
  });

  it('rejects values that do not fit', () => {
    assert.throws(() => encodeCookie({ round: 0x10000, category: 0, objectId: 0n }), RangeError);
    assert.throws(() => encodeCookie({ round: 0, category: 256, objectId: 0n }), RangeError);
    assert.throws(() => encodeCookie({ round: 0, category: 0, objectId: 1n << 40n }), RangeError);
    assert.throws(() => new CookieAllocator(-1), RangeError);
  });

  it('hashes object keys to stable 40-bit ids', () => {
    const id = objectIdOf('acnp/allow-dns/ingress-0');
    assert.equal(id, objectIdOf('acnp/allow-dns/ingress-0'));
    assert.notEqual(id, objectIdOf('acnp/allow-dns/ingress-1'));
    assert.ok(id > 0n && id < 1n << 40n);
  });

  it('allocates per category and names categories', () => {
    const a = new CookieAllocator(7);
    const c = a.cookie('Service', 'default/web:80');
    assert.deepEqual(decodeCookie(c), { round: 7, category: Category.Service, objectId: objectIdOf('default/web:80') });
    assert.equal(decodeCookie(a.cookie('Tunnel')).objectId, 0n);
    assert.equal(categoryName(2), 'NetworkPolicy');
    assert.equal(categoryName(200), undefined);
  });

  it('builds masks that select one round, one module or one object', () => {
    const a = new CookieAllocator(2);
    const policy = a.cookie('NetworkPolicy', 'p1');
    const svc = a.cookie('Service', 'p1');
    assert.ok(matchesFilter(policy, categoryFilter('NetworkPolicy')));
    assert.ok(!matchesFilter(svc, categoryFilter('NetworkPolicy')));
    assert.ok(matchesFilter(policy, objectFilter('NetworkPolicy', 'p1')));
    assert.ok(!matchesFilter(a.cookie('NetworkPolicy', 'p2'), objectFilter('NetworkPolicy', 'p1')));
    assert.ok(matchesFilter(policy, roundFilter(2)));
    assert.ok(!matchesFilter(policy, roundFilter(1)));
    assert.equal(formatCookieFilter(roundFilter(1)), `cookie=0x1000000000000/0x${ROUND_MASK.toString(16)}`);
    assert.equal(formatCookieFilter(categoryFilter('Service')), 'cookie=0x30000000000/0xff0000000000');
  });

  it('tells flows of the same owner written in another round', () => {
    const old = new CookieAllocator(1).cookie('PodConnectivity', 'pod-a');
    const cur = new CookieAllocator(2).cookie('PodConnectivity', 'pod-a');
    assert.ok(sameOwner(old, cur));
    assert.ok(!sameOwner(old, new CookieAllocator(2).cookie('PodConnectivity', 'pod-b')));
  });
});
