// The impact and recommendation REST routes on a real controller without boxes: bodies checked
// with the field named (422), a box that is registered but offline named in the answer rather
// than skipped, and a request larger than the MQTT message limit refused (413) before sending.
import assert from 'node:assert/strict';
import type { Controller } from '../../src/controller/main.js';
import { acnp, api, startController, tempDir } from './controller-fixture.js';

describe('controller: impact preview and recommendation REST', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir, { maxMessageBytes: 4096 });
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('422 naming the field: a bad duration, a bad object in items, a bad namespace or kind', async function () {
    const since = await api(c.restUrl, 'POST', '/api/v1/impact', { items: [acnp('a')], since: 'yesterday' });
    assert.equal(since.status, 422);
    assert.deepEqual(since.body.details.causes.map((x: { field: string }) => x.field), ['since']);
    const bad = acnp('b') as { spec: { ingress: { action: string }[] } };
    bad.spec.ingress[0]!.action = 'Deny';
    const item = await api(c.restUrl, 'POST', '/api/v1/impact', { items: [acnp('a'), bad] });
    assert.equal(item.status, 422);
    assert.deepEqual(item.body.details.causes.map((x: { field: string }) => x.field), ['items[1].spec.ingress[0].action']);
    const egress = await api(c.restUrl, 'POST', '/api/v1/impact', { items: [{ apiVersion: 'crd.antrea.io/v1beta1', kind: 'ExternalIPPool', metadata: { name: 'p' }, spec: { ipRanges: [{ cidr: '10.1.0.0/24' }], nodeSelector: {} } }] });
    assert.equal(egress.status, 422, JSON.stringify(egress.body));
    assert.match(egress.body.message, /not a policy kind/);
    const rec = await api(c.restUrl, 'POST', '/api/v1/recommendation', { namespace: 'Not_A_Name', kind: 'calico' });
    assert.equal(rec.status, 422);
    assert.deepEqual(rec.body.details.causes.map((x: { field: string }) => x.field).sort(), ['kind', 'namespace']);
    assert.equal((await api(c.restUrl, 'GET', '/api/v1/impact')).status, 405);
  });

  it('a registered box that is offline is named, not skipped; nothing is stored', async function () {
    const reg = await api(c.restUrl, 'POST', '/api/v1/nodes/box-9/join-token', {});
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const r = await api(c.restUrl, 'POST', '/api/v1/impact', { items: [acnp('a')], since: '1h' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'ImpactPreview');
    assert.deepEqual(r.body.nodes.answered, []);
    assert.deepEqual(r.body.nodes.notHeard.map((n: { node: string }) => n.node), ['box-9']);
    assert.match(r.body.nodes.notHeard[0].reason, /^offline/);
    assert.equal(r.body.window.until - r.body.window.since, 3600);
    assert.deepEqual((await api(c.restUrl, 'GET', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies')).body.items, [], 'the preview stored nothing');
    const rec = await api(c.restUrl, 'POST', '/api/v1/recommendation', { namespace: 'shop' });
    assert.equal(rec.status, 200);
    assert.deepEqual(rec.body.items, []);
    assert.deepEqual(rec.body.nodes.notHeard.map((n: { node: string }) => n.node), ['box-9']);
  });

  it('413 when the stored objects plus the change exceed the message limit', async function () {
    const many = Array.from({ length: 20 }, (_, i) => acnp(`stored-${i}`));
    assert.equal((await api(c.restUrl, 'POST', '/api/v1/apply', { apiVersion: 'v1', kind: 'List', items: many })).status, 200);
    const r = await api(c.restUrl, 'POST', '/api/v1/impact', { items: [acnp('a')] });
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.match(r.body.message, /exceeds the MQTT message limit of 4096 bytes/);
  });
});
