import assert from 'node:assert/strict';
import { intToIp, ipToInt, nextFreeIP } from '../../../src/lab/ipam.js';

describe('lab ipam', () => {
  it('round-trips addresses', () => {
    assert.equal(intToIp(ipToInt('10.42.255.254')), '10.42.255.254');
    assert.throws(() => ipToInt('10.42.0'));
  });

  it('hands out the lowest free host address, never network or broadcast', () => {
    assert.equal(nextFreeIP('10.42.0.0/24', ['10.42.0.1']), '10.42.0.2');
    assert.equal(nextFreeIP('10.42.0.0/24', ['10.42.0.1', '10.42.0.2', '10.42.0.4']), '10.42.0.3');
    assert.equal(nextFreeIP('10.42.0.0/30', ['10.42.0.1', '10.42.0.2']), undefined);
  });
});
