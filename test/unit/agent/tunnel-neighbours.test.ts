// The parsers behind the tunnel neighbour cache, on the text OVS 3.1's unixctl prints.
import assert from 'node:assert/strict';
import { parseNeighShow, parseRouteLookup } from '../../../src/agent/tunnel-neighbours.js';

describe('tunnel neighbours: OVS text', () => {
  it('ovs/route/lookup: an on-link peer is its own next hop', () => {
    assert.deepEqual(parseRouteLookup('172.31.250.12', 'src 172.31.250.11\ngateway ::\ndev br-phy\n'), { bridge: 'br-phy', nextHop: '172.31.250.12' });
  });

  it('ovs/route/lookup: a peer behind a router is reached through the router (IPv4 or mapped gateway)', () => {
    assert.deepEqual(parseRouteLookup('172.31.251.12', 'src 172.31.250.11\ngateway 172.31.250.1\ndev br-phy\n'), { bridge: 'br-phy', nextHop: '172.31.250.1' });
    assert.deepEqual(parseRouteLookup('172.31.251.12', 'src 172.31.250.11\ngateway ::ffff:172.31.250.1\ndev br-phy\n'), { bridge: 'br-phy', nextHop: '172.31.250.1' });
  });

  it('ovs/route/lookup: no route, no answer', () => {
    assert.equal(parseRouteLookup('10.9.9.9', ''), undefined);
    assert.equal(parseRouteLookup('10.9.9.9', 'src 1.2.3.4\ngateway ::\n'), undefined);
  });

  it('tnl/neigh/show: rows by bridge and address, the header skipped', () => {
    const text = [
      'IP                                            MAC                 Bridge',
      '==========================================================================',
      '172.31.250.13                                 32:18:63:9D:5d:40   br-phy',
      '172.31.250.12                                 d6:71:84:a3:cb:43   br-phy',
      '',
    ].join('\n');
    assert.deepEqual([...parseNeighShow(text)], [['br-phy 172.31.250.13', '32:18:63:9d:5d:40'], ['br-phy 172.31.250.12', 'd6:71:84:a3:cb:43']]);
    assert.equal(parseNeighShow('IP  MAC  Bridge\n=====\n').size, 0);
  });
});
