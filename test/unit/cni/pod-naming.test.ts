import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostVethName, podMac } from '../../../src/agent/cni/pod-interface.js';

describe('pod interface naming', () => {
  const id = '3f1c9e0a7b2d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6';

  it('host veth: first 8 characters of the pod name, "-", 6 hex of sha1(container id), like Antrea', () => {
    const hash = createHash('sha1').update(id).digest('hex').slice(0, 6);
    assert.equal(hostVethName('coredns-5d78c9869d-x7k2p', id, 'eth0'), `coredns--${hash}`);
    assert.equal(hostVethName('web', id, 'eth0'), `web-${hash}`);
  });

  it('is deterministic, at most 15 characters, and differs per container and per interface', () => {
    const a = hostVethName('a-very-long-pod-name-indeed', id, 'eth0');
    assert.equal(a, hostVethName('a-very-long-pod-name-indeed', id, 'eth0'));
    assert.ok(a.length <= 15);
    assert.notEqual(a, hostVethName('a-very-long-pod-name-indeed', id.replace('3', '4'), 'eth0'));
    assert.notEqual(a, hostVethName('a-very-long-pod-name-indeed', id, 'net1'));
  });

  it('trims leading hyphens and falls back to "pod" without a name', () => {
    assert.match(hostVethName('--x', id, 'eth0'), /^x-[0-9a-f]{6}$/);
    assert.match(hostVethName('', id, 'eth0'), /^pod-[0-9a-f]{6}$/);
  });

  it('pod MAC: 0a:58 + the IPv4 bytes, locally administered and unicast', () => {
    assert.equal(podMac('10.244.7.5'), '0a:58:0a:f4:07:05');
    const first = parseInt(podMac('192.168.0.255').slice(0, 2), 16);
    assert.equal(first & 0b10, 0b10, 'locally administered');
    assert.equal(first & 0b01, 0, 'unicast');
  });
});
