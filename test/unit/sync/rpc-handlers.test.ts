// The agent's request handling without a broker: deadline (with the clock-skew allowance),
// response topic ownership, params checked by the method's schema, a failing method.
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ENVELOPE_VERSION, rpcTopic, type RpcRequestEnvelope } from '../../../src/api/mqtt.js';
import { CLOCK_SKEW_MS, RpcHandlers } from '../../../src/agent/sync/rpc-handlers.js';

const request = (method: string, params?: unknown, deadline?: number): RpcRequestEnvelope => ({
  v: ENVELOPE_VERSION, node: 'box1', ts: Date.now(), kind: 'rpc-request',
  payload: { method, ...(params !== undefined ? { params } : {}), ...(deadline !== undefined ? { deadline } : {}) },
});

describe('agent rpc handlers', function () {
  const rpc = new RpcHandlers('box1');
  rpc.register('echo', { params: z.strictObject({ text: z.string() }), handle: async (p) => p.text });
  rpc.register('boom', { params: z.unknown(), handle: async () => { throw new Error('disk full'); } });
  const T = rpcTopic('box1', 'r1');

  it('answers on the request topic over MQTT 3.1.1, on responseTopic with correlation data over MQTT 5', async function () {
    const plain = await rpc.handle(T, request('echo', { text: 'hi' }));
    assert.deepEqual([plain?.topic, plain?.envelope.payload, plain?.correlationData], [T, { ok: true, result: 'hi' }, undefined]);
    const v5 = await rpc.handle(T, request('echo', { text: 'hi' }), { responseTopic: rpcTopic('box1', 'r2'), correlationData: Buffer.from('c1') });
    assert.equal(v5?.topic, rpcTopic('box1', 'r2'));
    assert.deepEqual(v5?.correlationData, Buffer.from('c1'));
  });

  it('errors: unknown method, bad params with the field path, a failing method', async function () {
    assert.deepEqual((await rpc.handle(T, request('nope')))?.envelope.payload, { ok: false, error: { code: 'UnknownMethod', message: 'unknown method "nope" (this agent answers boom, echo)' } });
    const bad = (await rpc.handle(T, request('echo', { text: 5 })))?.envelope.payload;
    assert.ok(bad && !bad.ok && bad.error.code === 'BadParams' && /^params\.text: /.test(bad.error.message), JSON.stringify(bad));
    assert.deepEqual((await rpc.handle(T, request('boom')))?.envelope.payload, { ok: false, error: { code: 'Failed', message: 'disk full' } });
  });

  it('no answer: a response topic of another node or not an rpc topic; a request past its deadline beyond the skew allowance', async function () {
    const refused = rpc.counters.refusedResponseTopic;
    assert.equal(await rpc.handle(T, request('echo', { text: 'x' }), { responseTopic: rpcTopic('box2', 'r1') }), undefined);
    assert.equal(await rpc.handle(T, request('echo', { text: 'x' }), { responseTopic: 'seine/v1/nodes/box1/reported' }), undefined);
    assert.equal(rpc.counters.refusedResponseTopic, refused + 2);
    assert.equal(await rpc.handle(T, request('echo', { text: 'x' }, Date.now() - CLOCK_SKEW_MS - 1000)), undefined);
    assert.equal(rpc.counters.expired, 1);
    assert.ok(await rpc.handle(T, request('echo', { text: 'x' }, Date.now() - 1000)), 'a little late is within the skew allowance');
  });
});
