// The controller's own PKI (real openssl): made once with keys 0600, reused, the server
// certificate issued again only when the configured names are not covered; the CA fingerprint
// is openssl's SHA-256 fingerprint; REST tokens compare by hash.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { ControllerConfigSchema } from '../../../src/api/config.js';
import { resolvePki, controllerPkiDir } from '../../../src/controller/pki.js';
import { authorize, hashToken } from '../../../src/controller/rest/auth.js';
import { certificateCovers } from '../../../src/lib/certs.js';

describe('controller PKI: first start, reuse, re-issue; hashed REST tokens', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'seine-pki-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('makes a CA and server certificate once (keys 0600), reuses them, re-issues only for new names', async function () {
    const cfg = ControllerConfigSchema.parse({ storePath: path.join(dir, 'seine.db') });
    assert.equal(controllerPkiDir(cfg), path.join(dir, 'pki'));
    const first = (await resolvePki(cfg))!;
    assert.equal(first.caKeyFile, path.join(dir, 'pki', 'ca.key'));
    for (const f of [first.caKeyFile!, first.keyFile]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    const openssl = execFileSync('openssl', ['x509', '-in', first.caFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
    assert.equal(first.caFingerprint, `sha256:${openssl.split('=')[1]!.trim().replace(/:/g, '').toLowerCase()}`);
    assert.ok(certificateCovers(first.cert, first.ca, { ips: ['127.0.0.1', '::1'], dnsNames: ['localhost'] }));
    assert.ok(!certificateCovers(first.cert, first.ca, { ips: ['10.9.9.9'] }));

    const again = (await resolvePki(cfg))!;
    assert.equal(again.caFingerprint, first.caFingerprint);
    assert.ok(again.cert.equals(first.cert), 'the same names: the same server certificate');

    const wider = (await resolvePki(ControllerConfigSchema.parse({ storePath: path.join(dir, 'seine.db'), tlsSANs: { ips: ['10.9.9.9'], dnsNames: ['controller.lan'] } })))!;
    assert.equal(wider.caFingerprint, first.caFingerprint, 'the CA stays');
    assert.ok(!wider.cert.equals(first.cert), 'a new server certificate');
    assert.ok(certificateCovers(wider.cert, wider.ca, { ips: ['10.9.9.9', '127.0.0.1'], dnsNames: ['controller.lan', 'localhost'] }));
    assert.match(execFileSync('openssl', ['verify', '-CAfile', wider.caFile, wider.certFile], { encoding: 'utf8' }), /OK/);
  });

  it('insecure: no PKI; own tls without caKeyFile: no signing key; a missing file is named', async function () {
    assert.equal(await resolvePki(ControllerConfigSchema.parse({ storePath: path.join(dir, 'x', 'seine.db'), insecure: true })), undefined);
    const own = (await resolvePki(ControllerConfigSchema.parse({ tls: { caFile: path.join(dir, 'pki/ca.crt'), certFile: path.join(dir, 'pki/server.crt'), keyFile: path.join(dir, 'pki/server.key') } })))!;
    assert.equal(own.caKeyFile, undefined);
    assert.ok(own.ca.equals(await readFile(path.join(dir, 'pki/ca.crt'))));
    await assert.rejects(resolvePki(ControllerConfigSchema.parse({ tls: { caFile: '/nonexistent/ca.crt', certFile: '/c', keyFile: '/k' } })), /tls.caFile \/nonexistent\/ca.crt: no such file/);
  });

  it('REST tokens configured as sha256: hashes admit the token, not the hash', function () {
    const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as IncomingMessage;
    const tokens = { adminTokens: [hashToken('the-admin-token-123')], readOnlyTokens: ['the-reader-token-123'] };
    assert.equal(authorize(req('the-admin-token-123'), tokens, 'admin'), 'admin-token-0');
    assert.equal(authorize(req('the-reader-token-123'), tokens, 'read'), 'read-only-token-0');
    assert.throws(() => authorize(req(hashToken('the-admin-token-123')), tokens, 'read'), /unknown bearer token/);
    assert.throws(() => authorize(req('the-reader-token-123'), tokens, 'admin'), /read-only/);
  });
});
