import assert from 'node:assert/strict';
import { boxAddressing, checkSocketPaths, DEFAULT_LAB_DIR, IFNAME_MAX, labDirFromEnv, labNames, labPrefix } from '../../../src/lab/names.js';

describe('lab names', () => {
  it('uses the prefix "seine" for the default dir and a short hash otherwise', () => {
    assert.equal(labPrefix(DEFAULT_LAB_DIR), 'seine');
    assert.equal(labPrefix('/run/seine-lab/'), 'seine');
    const p = labPrefix('/tmp/lab-a');
    assert.match(p, /^sl[0-9a-f]{4}$/);
    assert.equal(labPrefix('/tmp/lab-a'), p, 'stable');
    assert.notEqual(labPrefix('/tmp/lab-b'), p);
  });

  it('takes the dir from SEINE_LAB_DIR', () => {
    assert.equal(labDirFromEnv({}), DEFAULT_LAB_DIR);
    assert.equal(labDirFromEnv({ SEINE_LAB_DIR: '/tmp/x/../y' }), '/tmp/y');
  });

  it('prefixes every namespace and device name and keeps interface names within 15 chars', () => {
    for (const dir of [DEFAULT_LAB_DIR, '/tmp/some/test/dir']) {
      const n = labNames(dir);
      const netns = [n.underlayNetns, n.boxNetns('box1'), n.podNetns('default', 'web')];
      const devs = [n.underlayBridge, n.underlayPort(200), n.boxUplink];
      for (const name of [...netns, ...devs]) assert.ok(name.startsWith(`${n.prefix}-`), name);
      for (const d of devs) assert.ok(d.length <= IFNAME_MAX, `${d} is ${d.length} chars`);
    }
  });

  it('keeps pod namespaces unambiguous (namespace names have no dots)', () => {
    const n = labNames(DEFAULT_LAB_DIR);
    assert.equal(n.podNetns('default', 'web-1'), 'seine-default.web-1');
    assert.notEqual(n.podNetns('default-web', '1'), n.podNetns('default', 'web-1'));
  });

  it('addresses box i like k3s: 10.42.(i-1).0/24, gateway .1, underlay 172.31.250.(10+i)', () => {
    assert.deepEqual(boxAddressing(1), { podCIDR: '10.42.0.0/24', gatewayIP: '10.42.0.1', underlayIP: '172.31.250.11' });
    assert.deepEqual(boxAddressing(3), { podCIDR: '10.42.2.0/24', gatewayIP: '10.42.2.1', underlayIP: '172.31.250.13' });
    assert.throws(() => boxAddressing(0));
  });

  it('alternates boxes between two underlay subnets for hybrid labs', () => {
    assert.equal(boxAddressing(1, 2).underlayIP, '172.31.250.11');
    assert.equal(boxAddressing(2, 2).underlayIP, '172.31.251.12');
    assert.equal(boxAddressing(3, 2).underlayIP, '172.31.250.13');
  });

  it('rejects a lab dir too long for OVS socket paths', () => {
    assert.equal(checkSocketPaths(labNames('/tmp/x'), 'box1'), undefined);
    assert.match(checkSocketPaths(labNames(`/tmp/${'d'.repeat(90)}`), 'box1') ?? '', /too long/);
  });
});
