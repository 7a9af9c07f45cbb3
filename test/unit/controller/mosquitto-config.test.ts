import { strict as assert } from 'node:assert';
import { mosquittoConfig, mosquittoQueueFor } from '../../../src/controller/broker/mosquitto.js';

const base = { nodes: { port: 1883 }, controllers: { port: 1884, host: '127.0.0.1' }, nodePasswordFile: '/p/nodes', controllerPasswordFile: '/p/ctl', aclFile: '/p/acl' };

describe('mosquitto config for Seine', () => {
  it('turns Nagle off and sizes the per-client queue to the fleet (the controller takes every report at once)', () => {
    const lines = mosquittoConfig({ ...base, fleetSize: 10_000 }).split('\n');
    assert.ok(lines.includes('set_tcp_nodelay true'));
    assert.ok(lines.includes('max_queued_messages 40000'), lines.join('\n'));
  });

  it('never queues less than mosquitto\'s own default', () => {
    assert.equal(mosquittoQueueFor(10), 1000);
    assert.ok(mosquittoConfig(base).split('\n').includes('max_queued_messages 4000'));
  });

  it('keeps global options before the first listener (mosquitto reads them there)', () => {
    const text = mosquittoConfig({ ...base, fleetSize: 500 });
    assert.ok(text.indexOf('max_queued_messages') < text.indexOf('listener '));
    assert.ok(text.indexOf('set_tcp_nodelay') < text.indexOf('listener '));
  });
});
