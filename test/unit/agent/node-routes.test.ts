import assert from 'node:assert/strict';
import { desiredPeerRoutes, gatewayIP, planRoutes } from '../../../src/agent/route/node-routes.js';

describe('node routes', () => {
  it('derives the gateway IP from a pod CIDR', () => {
    assert.equal(gatewayIP('10.42.3.0/24'), '10.42.3.1');
  });

  it('routes encap peers onlink via their gateway and noEncap peers via their underlay IP', () => {
    const routes = desiredPeerRoutes(
      [
        { podCIDR: '10.42.1.0/24', underlayIP: '172.31.250.12', encap: true },
        { podCIDR: '10.42.2.0/24', underlayIP: '172.31.250.13', encap: false },
      ],
      'antrea-gw0',
      'br-phy',
    );
    assert.deepEqual(routes, [
      { dst: '10.42.1.0/24', via: '10.42.1.1', dev: 'antrea-gw0', onlink: true },
      { dst: '10.42.2.0/24', via: '172.31.250.13', dev: 'br-phy', onlink: false },
    ]);
  });

  it('plans only the difference', () => {
    const a = { dst: '10.42.1.0/24', via: '10.42.1.1', dev: 'antrea-gw0', onlink: true };
    const b = { dst: '10.42.2.0/24', via: '10.42.2.1', dev: 'antrea-gw0', onlink: true };
    const b2 = { ...b, via: '172.31.250.13', dev: 'br-phy', onlink: false };
    assert.deepEqual(planRoutes([a, b], [a, b]), []);
    assert.deepEqual(planRoutes([a, b], [a, b2]), [
      { action: 'del', route: b },
      { action: 'add', route: b2 },
    ]);
  });
});
