import assert from 'node:assert/strict';
import { prevResultAsCurrent, resultForVersion, resultFromAttachment } from '../../../src/agent/cni/result.js';
import type { PodAttachment } from '../../../src/agent/cni/pod-network.js';

const attachment: PodAttachment = {
  host: { name: 'web-1-a1b2c3', mac: 'fe:00:00:00:00:01' },
  pod: { name: 'eth0', mac: '0a:58:0a:f4:07:05', netns: '/var/run/netns/p1', mtu: 1450 },
  address: '10.244.7.5/24',
  gateway: '10.244.7.1',
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.7.1' }],
  ofport: 3,
};

describe('CNI results and version conversion', () => {
  const current = resultFromAttachment(attachment, {});

  it('builds the 1.0.0 result: host veth, pod interface in its sandbox, IP on interface 1, default route', () => {
    assert.deepEqual(current, {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'web-1-a1b2c3', mac: 'fe:00:00:00:00:01' },
        { name: 'eth0', mac: '0a:58:0a:f4:07:05', sandbox: '/var/run/netns/p1' },
      ],
      ips: [{ address: '10.244.7.5/24', gateway: '10.244.7.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.7.1' }],
    });
  });

  it('fills dns from the config, overridden by runtimeConfig.dns', () => {
    const r = resultFromAttachment(attachment, {
      dns: { nameservers: ['1.1.1.1'], domain: 'cluster.local' },
      runtimeConfig: { dns: { servers: ['10.43.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] } },
    });
    assert.deepEqual(r.dns, { nameservers: ['10.43.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'], options: ['ndots:5'] });
  });

  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    it(`converts to ${v}: IPs carry version "4"`, () => {
      const old = resultForVersion(current, v);
      assert.equal(old.cniVersion, v);
      assert.deepEqual(old.ips, [{ version: '4', address: '10.244.7.5/24', gateway: '10.244.7.1', interface: 1 }]);
      assert.deepEqual(old.interfaces, current.interfaces);
      assert.deepEqual(prevResultAsCurrent(old, v), current, 'and back');
    });
  }

  it('leaves 1.0.0 as it is', () => {
    assert.equal(resultForVersion(current, '1.0.0'), current);
    assert.deepEqual(prevResultAsCurrent(current, '1.0.0'), current);
  });

  it('names the offending field of a bad prevResult', () => {
    assert.throws(() => prevResultAsCurrent({ ips: [{ address: '10.0.0.1/24' }] }, '0.4.0'), /prevResult\.ips\.0\.version/);
    assert.throws(() => prevResultAsCurrent({ interfaces: [{ mac: 'x' }] }, '1.0.0'), /prevResult\.interfaces\.0\.name/);
  });
});
