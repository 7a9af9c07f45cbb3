// The REST API over real HTTP on 127.0.0.1: Kubernetes paths from the registry, CRUD, bearer
// tokens (401/403), 400/422 with field paths, all-or-nothing multi-object bodies, openapi.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Controller } from '../../src/controller/main.js';
import { acnp, api, netpol, startController, tempDir } from './controller-fixture.js';

const ADMIN = 'admin-token-0123456789';
const READER = 'reader-token-0123456789';
const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';

describe('controller REST', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const call = (method: string, p: string, body?: unknown, token: string | undefined = ADMIN) => api(c.restUrl, method, p, body, token);

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir, { auth: { adminTokens: [ADMIN], readOnlyTokens: [READER] } });
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('healthz and openapi need no token; openapi has a path per kind and the schemas', async function () {
    assert.equal((await call('GET', '/healthz', undefined, '')).status, 200);
    const { body } = await call('GET', '/openapi.json', undefined, '');
    assert.equal(body.openapi, '3.1.0');
    assert.ok(body.paths[ACNPS]);
    assert.ok(body.paths['/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}']);
    assert.ok(body.paths['/apis/crd.antrea.io/v1beta1/tiers']);
    assert.ok(body.paths[`${ACNPS}/{name}/nodes`].get);
    assert.ok(body.paths['/api/v1/nodes/{name}/rpc'].post);
    assert.ok(body.components.schemas.RpcCall.properties.method);
    assert.ok(body.paths['/api/v1/impact'].post);
    assert.ok(body.components.schemas.ImpactRequest.properties.items);
    assert.ok(body.paths['/api/v1/recommendation'].post);
    assert.ok(body.components.schemas['ClusterNetworkPolicy.crd.antrea.io'].properties.spec);
  });

  it('401 without or with an unknown token, 403 for a read-only token writing, 200 for reading', async function () {
    assert.equal((await call('GET', ACNPS, undefined, '')).status, 401);
    assert.equal((await call('GET', ACNPS, undefined, 'nope-nope-nope-nope')).status, 401);
    const denied = await call('POST', ACNPS, acnp('x'), READER);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.kind, 'Status');
    assert.equal((await call('GET', ACNPS, undefined, READER)).status, 200);
    assert.equal((await call('GET', '/api/v1/nodes', undefined, READER)).status, 200);
  });

  it('create, get, list, update, delete with Kubernetes metadata', async function () {
    const created = await call('POST', ACNPS, acnp('crud'));
    assert.equal(created.status, 200);
    const got = await call('GET', `${ACNPS}/crud`);
    assert.equal(got.body.kind, 'ClusterNetworkPolicy');
    assert.equal(got.body.metadata.generation, 1);
    assert.match(got.body.metadata.uid, /-/);
    assert.ok(got.body.metadata.resourceVersion);
    // No node hosts a pod it applies to: nothing to realize (Antrea shows such a policy Realized 0/0).
    assert.deepEqual(got.body.status, { phase: 'Realized', observedGeneration: 1, currentNodesRealized: 0, desiredNodesRealized: 0 });
    const list = await call('GET', ACNPS);
    assert.equal(list.body.kind, 'ClusterNetworkPolicyList');
    assert.ok(list.body.items.some((i: { metadata: { name: string } }) => i.metadata.name === 'crud'));
    const updated = await call('PUT', `${ACNPS}/crud`, acnp('crud', 8));
    assert.equal(updated.body.items[0].generation, 2);
    assert.equal((await call('DELETE', `${ACNPS}/crud`)).status, 200);
    assert.equal((await call('GET', `${ACNPS}/crud`)).status, 404);
    assert.equal((await call('DELETE', `${ACNPS}/crud`)).status, 404);
  });

  it('namespaced kinds: the path namespace applies, a different one in the body is refused', async function () {
    const base = '/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies';
    const np = netpol('np1', 'prod');
    delete (np.metadata as { namespace?: string }).namespace;
    assert.equal((await call('POST', base, np)).status, 200);
    assert.equal((await call('GET', `${base}/np1`)).body.metadata.namespace, 'prod');
    assert.equal((await call('POST', base, netpol('np2', 'dev'))).status, 400);
    const all = await call('GET', '/apis/networking.k8s.io/v1/networkpolicies');
    assert.equal(all.body.items.length, 1);
  });

  it('400 for a body that is not JSON/YAML, empty, or the wrong kind for the path', async function () {
    const bad = await call('POST', ACNPS, '{"apiVersion": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.reason, 'BadRequest');
    assert.equal((await call('POST', ACNPS, '')).status, 400);
    assert.equal((await call('POST', ACNPS, netpol('x'))).status, 400);
    assert.equal((await call('POST', '/apis/crd.antrea.io/v1beta1/nosuchthings', acnp('x'))).status, 404);
  });

  it('422 with the zod field path for an invalid object', async function () {
    const wrong = acnp('bad');
    (wrong.spec.ingress[0] as { action: string }).action = 'Deny';
    const r = await call('POST', ACNPS, wrong);
    assert.equal(r.status, 422);
    assert.equal(r.body.reason, 'Invalid');
    assert.equal(r.body.details.causes[0].field, 'spec.ingress[0].action');
    assert.match(r.body.message, /spec\.ingress\[0\]\.action: expected one of Allow\|Drop\|Reject\|Pass, got "Deny"/);
  });

  it('a multi-object body is all or nothing: one invalid object stores none', async function () {
    const wrong = acnp('bad2');
    (wrong.spec as { priority: unknown }).priority = 'high';
    const r = await call('POST', '/api/v1/apply', { apiVersion: 'v1', kind: 'List', items: [acnp('good1'), netpol('good2'), wrong] });
    assert.equal(r.status, 422);
    assert.equal(r.body.details.causes[0].field, 'spec.priority');
    assert.match(r.body.details.causes[0].message, /item 3/);
    assert.equal((await call('GET', `${ACNPS}/good1`)).status, 404);
    const ok = await call('POST', '/api/v1/apply', { apiVersion: 'v1', kind: 'List', items: [acnp('good1'), netpol('good2')] });
    assert.deepEqual(ok.body.items.map((i: { outcome: string }) => i.outcome), ['created', 'created']);
    const del = await call('POST', '/api/v1/delete', { apiVersion: 'v1', kind: 'List', items: [acnp('good1'), acnp('missing')] });
    assert.equal(del.status, 404);
    assert.equal((await call('GET', `${ACNPS}/good1`)).status, 200);
  });

  it('/api/v1/broker: admin stops and starts the embedded broker (REST stays up), 422 names the field, 403 for read-only', async function () {
    assert.deepEqual((await call('GET', '/api/v1/broker', undefined, READER)).body, { running: true });
    assert.equal((await call('PUT', '/api/v1/broker', { running: false }, READER)).status, 403);
    const bad = await call('PUT', '/api/v1/broker', { running: 'no' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details.causes[0].field, 'running');
    assert.equal((await call('PUT', '/api/v1/broker', '{not json')).status, 400);
    assert.deepEqual((await call('PUT', '/api/v1/broker', { running: false })).body, { running: false });
    const port = c.broker!.port;
    await assert.rejects(fetch(`http://127.0.0.1:${port}`).then(() => undefined), 'broker port closed');
    assert.equal((await call('POST', ACNPS, acnp('while-broker-down'))).status, 200);
    assert.deepEqual((await call('PUT', '/api/v1/broker', { running: true })).body, { running: true });
    assert.equal(c.broker!.port, port, 'the same port again');
  });

  it('409 for a stale resourceVersion; node passwords by REST only with insecure: true (admin only)', async function () {
    await call('POST', ACNPS, acnp('occ'));
    const stale = { ...acnp('occ', 2), metadata: { name: 'occ', resourceVersion: '1' } };
    assert.equal((await call('PUT', `${ACNPS}/occ`, stale)).status, 409);
    // This controller is TLS: passwords are the insecure path, refused with the reason.
    const refused = await call('POST', '/api/v1/nodes/box9/credentials');
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /only for a controller with insecure: true/);
    const plain = await startController(path.join(tmp.dir, 'plain'), { insecure: true, auth: { adminTokens: [ADMIN], readOnlyTokens: [READER] } });
    try {
      const pcall = (method: string, p: string, token = ADMIN) => api(plain.restUrl, method, p, undefined, token);
      assert.equal((await pcall('POST', '/api/v1/nodes/box9/credentials', READER)).status, 403);
      const cred = await pcall('POST', '/api/v1/nodes/box9/credentials');
      assert.equal(cred.body.username, 'box9');
      assert.ok(cred.body.password.length >= 24);
      assert.equal((await pcall('POST', '/api/v1/nodes/Box_9/credentials')).status, 422);
      const audit = await pcall('GET', '/api/v1/audit');
      assert.ok(audit.body.some((e: { action: string; object: string; actor: string }) => e.action === 'credentials' && e.object === 'box9' && e.actor === 'admin-token-0'));
    } finally {
      await plain.stop();
    }
  });

  it('checks tiers across objects: unknown tier, taken priority, a tier still in use cannot be deleted', async function () {
    const TIERS = '/apis/crd.antrea.io/v1beta1/tiers';
    const inTier = { ...acnp('tiered'), spec: { ...acnp('tiered').spec, tier: 'edge-tier' } };
    const unknown = await call('POST', ACNPS, inTier);
    assert.equal(unknown.status, 422);
    assert.deepEqual(unknown.body.details.causes.map((c: { field: string }) => c.field), ['spec.tier']);
    assert.match(unknown.body.message, /unknown tier "edge-tier"/);
    const tier = (name: string, priority: number) => ({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name }, spec: { priority } });
    // The tier and its policy in one body are consistent: accepted together.
    assert.equal((await call('POST', '/api/v1/apply', { apiVersion: 'v1', kind: 'List', items: [tier('edge-tier', 20), inTier] })).status, 200);
    const clash = await call('POST', TIERS, tier('other-tier', 20));
    assert.equal(clash.status, 422);
    assert.match(clash.body.message, /priority 20 is already taken by tier edge-tier/);
    const inUse = await call('DELETE', `${TIERS}/edge-tier`);
    assert.equal(inUse.status, 422);
    assert.match(inUse.body.message, /tier edge-tier is still used by ClusterNetworkPolicy tiered/);
    assert.equal((await call('DELETE', `${ACNPS}/tiered`)).status, 200);
    assert.equal((await call('DELETE', `${TIERS}/edge-tier`)).status, 200);
  });
});

