// Node identity in the store (real SQLite) and CSR signing (real openssl): a join token works
// once, for its node, until it expires; only its hash is stored; deleting a node revokes every
// serial issued to it and forgets it in the registry; signCsr gives second-precision validity,
// forces the subject and refuses what is not a CSR.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { JoinTokenError, NodeTrust } from '../../../src/controller/store/node-trust.js';
import { CertificateRequestError, createKeyAndCsr, ensureCa, signCsr } from '../../../src/lib/certs.js';
import { Database } from '../../../src/lib/sqlite.js';
import { tempDir } from '../../integration/controller-fixture.js';

describe('node trust: join tokens, issued serials, revocation', function () {
  this.timeout(20_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: Database;
  let trust: NodeTrust;
  let nodes: NodeRegistry;

  before(async () => {
    tmp = await tempDir('seine-trust-');
    db = await Database.open(path.join(tmp.dir, 'store.db'));
    nodes = await NodeRegistry.open(db);
    trust = await NodeTrust.open(db);
  });
  after(async () => {
    await db.close();
    await tmp.remove();
  });

  const refused = (reason: JoinTokenError['reason']) => (e: unknown) => e instanceof JoinTokenError && e.reason === reason;

  it('a token is valid once, for its node, until it expires; only a hash is stored', async () => {
    const t = await trust.createJoinToken('box1');
    const rows = await db.all<{ secret_hash: string }>('SELECT secret_hash FROM join_tokens');
    assert.ok(!JSON.stringify(rows).includes(t.token.split('.')[1]!), 'the secret is not stored');
    await assert.rejects(trust.checkJoinToken('box2', t.token), refused('otherNode'));
    await assert.rejects(trust.checkJoinToken('box1', `${t.token.slice(0, -1)}${t.token.endsWith('A') ? 'B' : 'A'}`), refused('unknown'));
    await assert.rejects(trust.checkJoinToken('box1', 'not-a-token'), refused('malformed'));
    const id = await trust.checkJoinToken('box1', t.token);
    assert.equal(await trust.consumeJoinToken(id), true);
    assert.equal(await trust.consumeJoinToken(id), false, 'a second consumer loses');
    await assert.rejects(trust.checkJoinToken('box1', t.token), refused('used'));
    const short = await trust.createJoinToken('box1', 1);
    await new Promise((r) => setTimeout(r, 1100));
    await assert.rejects(trust.checkJoinToken('box1', short.token), refused('expired'));
  });

  it('delete revokes every serial of the node, drops its tokens and forgets it; disable keeps it listed', async () => {
    await nodes.register('box3', 'test');
    await nodes.register('box4', 'test');
    await trust.recordCertificate('box3', 'aa01', new Date(Date.now() + 60_000));
    await trust.recordCertificate('box3', 'AA02', new Date(Date.now() + 60_000));
    await trust.recordCertificate('box4', 'BB01', new Date(Date.now() + 60_000));
    const pending = await trust.createJoinToken('box3');
    assert.equal(await nodes.exists('box3'), true);
    const removed: string[] = [];
    nodes.onChange((n, what) => what === 'removed' && removed.push(n));

    assert.equal(await nodes.remove('box3', 'test', { disable: false }), true);
    assert.deepEqual((await trust.revokeNode('box3')).sort(), ['AA01', 'AA02']);
    assert.equal(await trust.isRevoked('AA01'), true);
    assert.equal(await trust.isRevoked('bb01'), false);
    assert.equal(await nodes.exists('box3'), false);
    assert.ok(!(await nodes.list()).some((n) => n.name === 'box3'));
    await assert.rejects(trust.checkJoinToken('box3', pending.token), refused('unknown'));
    assert.equal(await nodes.remove('box3', 'test', { disable: false }), false, 'gone already');

    assert.equal(await nodes.remove('box4', 'test', { disable: true }), true);
    assert.deepEqual((await nodes.list()).find((n) => n.name === 'box4')?.disabled, true);
    assert.ok(!(await nodes.names()).includes('box4'), 'no desired state for a disabled node');
    assert.equal(await nodes.exists('box4'), false);
    assert.deepEqual(removed, ['box3', 'box4']);
    assert.equal(await nodes.register('box4', 'test'), true, 'node add enables it again');
    assert.equal(await nodes.exists('box4'), true);
  });

  it('signCsr: seconds of validity, subject forced, CSR checked', async () => {
    const ca = await ensureCa(path.join(tmp.dir, 'ca'));
    const csr = await createKeyAndCsr(path.join(tmp.dir, 'k.key'), 'someone-else');
    const signed = await signCsr(ca, csr, { commonName: 'box5', usages: ['clientAuth'], validitySeconds: 120 });
    const x = new X509Certificate(signed.pem);
    assert.equal(x.subject, 'CN=box5');
    assert.equal(x.serialNumber.toUpperCase(), signed.serial);
    const life = (Date.parse(x.validTo) - Date.now()) / 1000;
    assert.ok(life > 100 && life <= 121, `valid for ${life} s`);
    assert.match(x.toLegacyObject().ext_key_usage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/);
    await assert.rejects(signCsr(ca, 'hello', { commonName: 'box5', usages: ['clientAuth'], validitySeconds: 60 }), CertificateRequestError);
    // One byte of the signed part changed (the subject's CN): the request's signature no longer holds.
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('someone-else'));
    assert.ok(at > 0);
    der[at] = 'S'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(signCsr(ca, tampered, { commonName: 'box5', usages: ['clientAuth'], validitySeconds: 60 }), CertificateRequestError);
  });
});
