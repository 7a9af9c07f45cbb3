// REST hardening over real HTTP: a browser page cannot drive the API (writes need one of the
// API's own content types: 415 for text/plain and forms; another Origin or Sec-Fetch-Site
// cross-site: 403), release uploads are bounded before they reach the disk, audit queries are
// capped, and the audit log has a retention (applied at start).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildRelease } from '../../src/release/bundle.js';
import { generateReleaseKeys } from '../../src/release/signing.js';
import type { Controller } from '../../src/controller/main.js';
import { acnp, api, startController, tempDir } from './controller-fixture.js';

const ACNPS = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies';

describe('REST hardening', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const raw = (method: string, p: string, headers: Record<string, string>, body?: string | Buffer) => fetch(`${c.restUrl}${p}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const yaml = (name: string) => `apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: ${name}}\nspec: {priority: 5, appliedTo: [{podSelector: {}}], ingress: [{action: Allow}]}\n`;

  before(async function () {
    tmp = await tempDir();
    await generateReleaseKeys(path.join(tmp.dir, 'keys'));
    // Plain (insecure: true): the guards are the same over HTTPS, and raw fetch needs no CA here.
    c = await startController(tmp.dir, { insecure: true, releaseKeys: [path.join(tmp.dir, 'keys', 'release.pub')], releaseUploadMaxBytes: 1 << 20, auditRetention: { maxAgeDays: 30, maxRows: 100 } });
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('writes with a form or text content type are refused with 415 and store nothing; JSON, YAML and body-less writes work', async function () {
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await raw('POST', ACNPS, { 'content-type': type }, yaml('form'));
      assert.equal(r.status, 415, type);
      const body = (await r.json()) as { reason: string; message: string };
      assert.equal(body.reason, 'UnsupportedMediaType');
      assert.match(body.message, /application\/json/);
    }
    assert.equal((await raw('POST', ACNPS, {}, yaml('none'))).status, 415, 'a body with no content type');
    assert.equal((await api(c.restUrl, 'GET', `${ACNPS}/form`)).status, 404);
    assert.equal((await raw('POST', ACNPS, { 'content-type': 'application/yaml' }, yaml('y'))).status, 200);
    assert.equal((await raw('POST', ACNPS, { 'content-type': 'application/json' }, JSON.stringify(acnp('j')))).status, 200);
    assert.equal((await raw('DELETE', `${ACNPS}/y`, {})).status, 200);
    assert.equal((await raw('POST', '/api/v1/nodes/box9/credentials', {})).status, 200);
  });

  it('a request from another origin (Origin, Sec-Fetch-Site) is refused with 403, reads and raw routes included; the same origin passes', async function () {
    const own = new URL(c.restUrl).origin;
    for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const w = await raw('POST', ACNPS, { 'content-type': 'application/json', ...headers }, JSON.stringify(acnp('cross')));
      assert.equal(w.status, 403, JSON.stringify(headers));
      assert.match(((await w.json()) as { message: string }).message, /cross-origin request refused/);
      assert.equal((await raw('GET', ACNPS, headers)).status, 403);
      assert.equal((await raw('GET', '/api/v1/releases', headers)).status, 403);
    }
    assert.equal((await api(c.restUrl, 'GET', `${ACNPS}/cross`)).status, 404);
    assert.equal((await raw('POST', ACNPS, { 'content-type': 'application/json', origin: own, 'sec-fetch-site': 'same-origin' }, JSON.stringify(acnp('same')))).status, 200);
  });

  it('release uploads: a bundle.size over releaseUploadMaxBytes, or a body longer than bundle.size, is refused with 413 and nothing kept', async function () {
    const manifest = (size: number) => Buffer.from(JSON.stringify({
      manifest: { version: '9.9.9', arch: 'amd64', bundle: { file: 'b.tar.gz', size, sha256: 'a'.repeat(64) }, created: new Date().toISOString() },
      signature: { algorithm: 'ed25519', keyId: '0123456789abcdef', value: `${'A'.repeat(86)}==` },
    })).toString('base64');
    const big = await raw('PUT', '/api/v1/releases/9.9.9/amd64', { 'content-type': 'application/gzip', 'x-seine-manifest': manifest(2 << 20) }, Buffer.alloc(16));
    assert.equal(big.status, 413);
    assert.match(((await big.json()) as { message: string }).message, /bundle\.size 2097152 is over the upload limit of 1048576 bytes/);
    // Chunked (no Content-Length): a correctly signed manifest, and a body cut off at its bundle.size.
    const tree = path.join(tmp.dir, 'tree');
    await mkdir(path.join(tree, 'dist', 'cli'), { recursive: true });
    await writeFile(path.join(tree, 'dist', 'cli', 'seine.js'), '// x\n');
    await writeFile(path.join(tree, 'package.json'), '{"name":"seine","version":"0.0.0"}');
    const built = await buildRelease({ version: '9.9.8', arch: 'amd64', keyFile: path.join(tmp.dir, 'keys', 'release.key'), outDir: path.join(tmp.dir, 'out'), from: tree });
    const chunk = new Uint8Array(built.signed.manifest.bundle.size + 64 * 1024);
    const stream = new ReadableStream({ start(ctl) { ctl.enqueue(chunk); ctl.close(); } });
    const long = await fetch(`${c.restUrl}/api/v1/releases/9.9.8/amd64`, { method: 'PUT', headers: { 'content-type': 'application/gzip', 'x-seine-manifest': Buffer.from(JSON.stringify(built.signed)).toString('base64') }, body: stream, duplex: 'half' } as RequestInit);
    assert.equal(long.status, 413);
    assert.deepEqual((await api(c.restUrl, 'GET', '/api/v1/releases')).body.items, []);
  });

  it('audit queries: limit is capped at 1000 (400 naming the parameter); the audit log keeps maxRows, pruned at start', async function () {
    const over = await api(c.restUrl, 'GET', '/api/v1/audit?limit=5000');
    assert.equal(over.status, 400);
    assert.equal(over.body.details.causes[0].field, 'limit');
    assert.equal((await api(c.restUrl, 'GET', '/api/v1/audit?limit=0')).status, 400);
    assert.equal((await api(c.restUrl, 'GET', '/api/v1/audit?limit=2')).body.length, 2);
    const list = { apiVersion: 'v1', kind: 'List', items: Array.from({ length: 120 }, (_, i) => acnp(`many-${i}`)) };
    assert.equal((await api(c.restUrl, 'POST', '/api/v1/apply', list)).status, 200);
    assert.ok((await api(c.restUrl, 'GET', '/api/v1/audit?limit=1000')).body.length > 120);
    const cfg = c.config;
    await c.stop();
    c = await startController(tmp.dir, { insecure: true, listen: cfg.listen.replace(/:\d+$/, ':0'), releaseUploadMaxBytes: 1 << 20, auditRetention: { maxAgeDays: 30, maxRows: 100 } });
    const kept = (await api(c.restUrl, 'GET', '/api/v1/audit?limit=1000')).body as { object: string }[];
    assert.equal(kept.length, 100);
    assert.equal(kept[0]!.object, 'ClusterNetworkPolicy.crd.antrea.io//many-119', 'the newest stay');
    // Age: everything is older than 30 days a year from now.
    assert.equal(await c.store.pruneAudit({ maxAgeDays: 30, maxRows: 100 }, Date.now() + 365 * 86_400_000), 100);
  });
});
