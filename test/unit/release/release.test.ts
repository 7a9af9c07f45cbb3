// Release manifests, signatures and the version rules; the updater's install, refusal (nothing
// changed on disk), commit and rollback on real files, with the bundle served over real HTTP by
// the controller's ranged file server.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentConfigSchema, UpdateConfigSchema } from '../../../src/api/config.js';
import { describeZodError } from '../../../src/api/issues.js';
import type { ReleaseTarget, SignedManifest, UpdateStatus } from '../../../src/api/release.js';
import { Updater } from '../../../src/agent/update/updater.js';
import { Launcher } from '../../../src/launcher/launcher.js';
import { downloadResumable } from '../../../src/agent/update/download.js';
import { serveFile } from '../../../src/controller/releases/serve-file.js';
import { compareVersions } from '../../../src/lib/semver.js';
import { buildRelease, unpackBundle } from '../../../src/release/bundle.js';
import { generateReleaseKeys, keyIdOf, signManifest } from '../../../src/release/signing.js';
import { checkBundle, checkInstallable, loadPublicKey, manifestDigest, ReleaseRefused, type RefusalReason } from '../../../src/release/verify.js';
import { notAfterOf } from '../../../src/cli/release-command.js';

async function refusal(fn: () => unknown): Promise<RefusalReason> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ReleaseRefused) return err.reason;
    throw err;
  }
  assert.fail('expected a refusal');
}

/** Every file, directory and link under `dir` with its content hash: "nothing changed" is equality. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const name of (await readdir(d).catch(() => [])).sort()) {
      const p = path.join(d, name);
      const st = await lstat(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `-> ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = 'dir';
        await walk(p);
      } else out[rel] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

describe('releases: manifests, signatures, version rules, the updater', function () {
  this.timeout(30_000);
  let dir: string;
  let keyDir: string;
  let out: string;
  let signed: SignedManifest;
  let bundle: string;
  let server: http.Server;
  let serverUrl: string;
  /** What the HTTP server serves for the bundle path (a test may swap in a tampered file). */
  let served: string;
  const ranges: (string | undefined)[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-release-test-'));
    keyDir = path.join(dir, 'keys');
    await generateReleaseKeys(keyDir);
    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'dist', 'cli'), { recursive: true });
    // Incompressible content, so the bundle is big enough to cut a download in two.
    await writeFile(path.join(tree, 'dist', 'cli', 'seine.js'), `// ${randomBytes(20_000).toString('base64')}\n`);
    await writeFile(path.join(tree, 'package.json'), JSON.stringify({ name: 'seine', version: '0.0.0' }));
    out = path.join(dir, 'out');
    const built = await buildRelease({ version: '0.2.0', arch: 'amd64', minVersion: '0.1.0', keyFile: path.join(keyDir, 'release.key'), outDir: out, from: tree });
    signed = built.signed;
    bundle = built.bundle;
    served = bundle;
    server = http.createServer((req, res) => {
      ranges.push(req.headers.range);
      void serveFile(req, res, served).catch(() => res.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('has update config defaults for a box and names a bad field', () => {
    const cfg = AgentConfigSchema.parse({ nodeName: 'box-1' }).update;
    assert.deepEqual([cfg.root, cfg.stateDir, cfg.publicKey, cfg.keepPrevious, cfg.healthDeadlineSeconds, cfg.failHealthCheck, cfg.enable], ['/opt/seine', '/var/lib/seine/update', '/etc/seine/release.pub', 2, 120, false, undefined]);
    const bad = AgentConfigSchema.safeParse({ update: { healthDeadlineSeconds: 0, arch: 'mips' } });
    assert.equal(bad.success, false);
    assert.match(describeZodError(bad.error!), /update\.healthDeadlineSeconds/);
    assert.match(describeZodError(bad.error!), /update\.arch/);
  });

  it('orders versions as semver does', () => {
    assert.ok(compareVersions('0.10.0', '0.9.9') > 0);
    assert.ok(compareVersions('1.0.0-rc.1', '1.0.0') < 0);
    assert.ok(compareVersions('1.0.0-rc.2', '1.0.0-rc.10') < 0);
    assert.equal(compareVersions('2.1.3', '2.1.3'), 0);
    assert.throws(() => compareVersions('1.0', '1.0.0'), /invalid version "1.0"/);
  });

  it('builds a signed manifest whose bundle and signature verify', async () => {
    const pub = loadPublicKey(await readFile(path.join(keyDir, 'release.pub')));
    assert.equal(signed.manifest.bundle.size, (await lstat(bundle)).size);
    assert.equal(signed.manifest.minVersion, '0.1.0');
    checkInstallable(signed, { publicKeys: [pub], arch: 'amd64', running: '0.1.0' });
    await checkBundle(signed, bundle);
    // The file on disk is what was signed (a re-serialisation keeps the signature valid).
    const onDisk = JSON.parse(await readFile(path.join(out, 'seine-agent-0.2.0-amd64.manifest.json'), 'utf8')) as SignedManifest;
    checkInstallable(onDisk, { publicKeys: [pub], arch: 'amd64', running: '0.1.0' });
  });

  it('refuses unsigned, tampered, foreign-key, wrong-architecture, downgrade and below-minimum releases with a reason', async () => {
    const pub = loadPublicKey(await readFile(path.join(keyDir, 'release.pub')));
    const ctx = { publicKeys: [pub], arch: 'amd64' as const, running: '0.1.0' };
    assert.equal(await refusal(() => checkInstallable({ manifest: signed.manifest }, ctx)), 'unsigned');
    const tampered = structuredClone(signed);
    tampered.manifest.bundle.sha256 = 'f'.repeat(64);
    assert.equal(await refusal(() => checkInstallable(tampered, ctx)), 'badSignature');
    const otherKeys = path.join(dir, 'other-keys');
    await generateReleaseKeys(otherKeys);
    const foreign = signManifest(signed.manifest, createPrivateKey(await readFile(path.join(otherKeys, 'release.key'))));
    assert.equal(await refusal(() => checkInstallable(foreign, ctx)), 'unknownKey');
    assert.equal(await refusal(() => checkInstallable(signed, { ...ctx, arch: 'arm64' })), 'wrongArch');
    assert.equal(await refusal(() => checkInstallable(signed, { ...ctx, running: '0.3.0' })), 'downgrade');
    assert.equal(await refusal(() => checkInstallable(signed, { ...ctx, running: '0.2.0' })), 'downgrade');
    assert.equal(await refusal(() => checkInstallable(signed, { ...ctx, running: '0.0.9' })), 'belowMinVersion');
    const bad = path.join(dir, 'tampered.tar.gz');
    const bytes = await readFile(bundle);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(bad, bytes);
    assert.equal(await refusal(() => checkBundle(signed, bad)), 'shaMismatch');
    await writeFile(bad, bytes.subarray(1));
    assert.equal(await refusal(() => checkBundle(signed, bad)), 'sizeMismatch');
  });

  it('refuses an expired manifest; notAfter is signed with the rest', async () => {
    const pub = loadPublicKey(await readFile(path.join(keyDir, 'release.pub')));
    const key = createPrivateKey(await readFile(path.join(keyDir, 'release.key')));
    const ctx = { publicKeys: [pub], arch: 'amd64' as const, running: '0.1.0' };
    const expiring = signManifest({ ...signed.manifest, notAfter: '2030-01-01T00:00:00Z' }, key);
    checkInstallable(expiring, { ...ctx, now: Date.parse('2029-12-31T23:59:59Z') });
    try {
      checkInstallable(expiring, { ...ctx, now: Date.parse('2030-01-01T00:00:01Z') });
      assert.fail('expected a refusal');
    } catch (err) {
      assert.ok(err instanceof ReleaseRefused);
      assert.equal(err.reason, 'expired');
      assert.match(err.message, /release 0\.2\.0 \(amd64\) expired at 2030-01-01T00:00:00Z \(notAfter; now 2030-01-01T00:00:01\.000Z\)/);
    }
    // Moving notAfter without the key breaks the signature.
    const extended = structuredClone(expiring);
    extended.manifest.notAfter = '2040-01-01T00:00:00Z';
    assert.equal(await refusal(() => checkInstallable(extended, ctx)), 'badSignature');
    // A manifest without notAfter never expires.
    checkInstallable(signed, { ...ctx, now: Date.parse('2100-01-01T00:00:00Z') });
    assert.equal(notAfterOf({ validFor: '90d' }, Date.parse('2027-01-01T00:00:00Z')), '2027-04-01T00:00:00.000Z');
    assert.equal(notAfterOf({ notAfter: '2027-03-01T00:00:00+01:00' }), '2027-03-01T00:00:00+01:00');
    assert.throws(() => notAfterOf({ validFor: '3 weeks' }), /--valid-for "3 weeks": expected a positive duration/);
    assert.throws(() => notAfterOf({ notAfter: 'tomorrow' }), /--not-after "tomorrow": expected an RFC 3339 time/);
    assert.throws(() => notAfterOf({ notAfter: '2027-03-01T00:00:00Z', validFor: '1d' }), /give one of them/);
  });

  it('trusts a list of keys (rotation) and names the trusted ones when the signer is not among them', async () => {
    const oldPub = loadPublicKey(await readFile(path.join(keyDir, 'release.pub')));
    const newKeys = path.join(dir, 'rotated-keys');
    await generateReleaseKeys(newKeys);
    const newPub = loadPublicKey(await readFile(path.join(newKeys, 'release.pub')));
    const byNew = signManifest(signed.manifest, createPrivateKey(await readFile(path.join(newKeys, 'release.key'))));
    const ctx = { arch: 'amd64' as const, running: '0.1.0' };
    checkInstallable(byNew, { ...ctx, publicKeys: [oldPub, newPub] });
    checkInstallable(signed, { ...ctx, publicKeys: [oldPub, newPub] });
    try {
      checkInstallable(byNew, { ...ctx, publicKeys: [oldPub] });
      assert.fail('expected a refusal');
    } catch (err) {
      assert.ok(err instanceof ReleaseRefused);
      assert.equal(err.reason, 'unknownKey');
      assert.equal(err.message, `release 0.2.0 (amd64) is signed by key ${byNew.signature!.keyId}, which is not trusted (trusted: ${signed.signature!.keyId})`);
    }
  });

  it('builds a release that expires and ships the keys its boxes will trust', async () => {
    const newKeys = path.join(dir, 'shipped-keys');
    await generateReleaseKeys(newKeys);
    const built = await buildRelease({
      version: '0.2.1', arch: 'amd64', keyFile: path.join(keyDir, 'release.key'), outDir: path.join(dir, 'out-keys'), from: path.join(dir, 'tree'),
      notAfter: '2031-01-01T00:00:00Z', trustKeys: [path.join(keyDir, 'release.pub'), path.join(newKeys, 'release.pub')],
    });
    assert.equal(built.signed.manifest.notAfter, '2031-01-01T00:00:00Z');
    const pub = loadPublicKey(await readFile(path.join(keyDir, 'release.pub')));
    checkInstallable(built.signed, { publicKeys: [pub], arch: 'amd64', running: '0.1.0', now: Date.parse('2030-12-31T00:00:00Z') });
    const unpacked = path.join(dir, 'unpacked-keys');
    await unpackBundle(built.bundle, unpacked);
    const newId = keyIdOf(loadPublicKey(await readFile(path.join(newKeys, 'release.pub'))));
    assert.deepEqual((await readdir(path.join(unpacked, 'release-keys'))).sort(), [`${keyIdOf(pub)}.pub`, `${newId}.pub`].sort());
    await assert.rejects(buildRelease({ version: '0.2.1', arch: 'amd64', outDir: path.join(dir, 'out-bad'), from: path.join(dir, 'tree'), trustKeys: [path.join(keyDir, 'release.key')] }), /release\.key: this is a private key; give the public half \(release\.pub\)/);
  });

  it('names a signed manifest by its digest: the same after re-serialisation, new when re-signed or rebuilt', async () => {
    const key = createPrivateKey(await readFile(path.join(keyDir, 'release.key')));
    const onDisk = JSON.parse(await readFile(path.join(out, 'seine-agent-0.2.0-amd64.manifest.json'), 'utf8')) as SignedManifest;
    assert.match(manifestDigest(signed), /^[0-9a-f]{64}$/);
    assert.equal(manifestDigest(onDisk), manifestDigest(signed));
    assert.equal(manifestDigest(signManifest(signed.manifest, key)), manifestDigest(signed), 'ed25519 is deterministic: the same key and manifest are the same release');
    assert.notEqual(manifestDigest(signManifest({ ...signed.manifest, notAfter: '2031-01-01T00:00:00Z' }, key)), manifestDigest(signed));
    assert.notEqual(manifestDigest(signManifest({ ...signed.manifest, bundle: { ...signed.manifest.bundle, sha256: 'a'.repeat(64) } }, key)), manifestDigest(signed));
  });

  it('cuts off a server that sends more than the manifest\'s size and keeps nothing', async () => {
    const full = await readFile(bundle);
    const liar = http.createServer((req, res) => {
      // /announced: says so in Content-Length; /chunked: no length, just more bytes.
      if (req.url === '/announced') res.writeHead(200, { 'content-length': full.length + 4096 });
      else res.writeHead(200);
      res.write(full);
      const more = setInterval(() => (res.destroyed ? clearInterval(more) : res.write(randomBytes(4096))), 5);
      res.on('close', () => clearInterval(more));
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
    try {
      for (const p of ['/announced', '/chunked']) {
        const dest = path.join(dir, 'liar', `${p.slice(1)}.tar.gz`);
        try {
          await downloadResumable({ url: `${url}${p}`, dest, size: full.length });
          assert.fail(`${p}: expected a refusal`);
        } catch (err) {
          assert.ok(err instanceof ReleaseRefused, `${p}: ${String(err)}`);
          assert.equal(err.reason, 'sizeMismatch');
          assert.match(err.message, new RegExp(`the server sent more than the ${full.length} bytes the manifest says .*: cut off`));
        }
        assert.deepEqual(await readdir(path.dirname(dest)), [], `${p}: no partial file is kept`);
      }
    } finally {
      liar.closeAllConnections();
      await new Promise<void>((r) => liar.close(() => r()));
    }
  });

  it('resumes a partial download with a byte range', async () => {
    const dest = path.join(dir, 'dl', 'b.tar.gz');
    const full = await readFile(bundle);
    await mkdir(path.dirname(dest), { recursive: true });
    await writeFile(`${dest}.part`, full.subarray(0, 1000));
    ranges.length = 0;
    const r = await downloadResumable({ url: `${serverUrl}/b`, dest, size: full.length });
    assert.deepEqual(ranges, ['bytes=1000-']);
    assert.equal(r.resumedFrom, 1000);
    assert.equal(r.fetched, full.length - 1000);
    assert.deepEqual(await readFile(dest), full);
  });

  describe('the updater on a release layout', () => {
    let root: string;
    let stateDir: string;
    let restarts: number;
    let reports: UpdateStatus[];

    beforeEach(async () => {
      root = await mkdtemp(path.join(dir, 'root-'));
      stateDir = path.join(root, 'var-update');
      await mkdir(path.join(root, 'opt', 'releases', '0.1.0', 'dist', 'cli'), { recursive: true });
      await writeFile(path.join(root, 'opt', 'releases', '0.1.0', 'dist', 'cli', 'seine.js'), '');
      await writeFile(path.join(root, 'opt', 'releases', '0.1.0', 'package.json'), JSON.stringify({ version: '0.1.0' }));
      await symlink('releases/0.1.0', path.join(root, 'opt', 'current'));
      restarts = 0;
      reports = [];
      served = bundle;
    });

    const updater = (running: string, extra: Record<string, unknown> = {}) => {
      const cfg = UpdateConfigSchema.parse({ root: path.join(root, 'opt'), stateDir, publicKey: path.join(keyDir, 'release.pub'), healthDeadlineSeconds: 5, ...extra });
      return new Updater({ cfg, running, arch: 'amd64', server: serverUrl, underLauncher: true, restart: async () => void restarts++ });
    };
    const target = (release: SignedManifest): ReleaseTarget => ({ rollout: 'r1', release });
    // The launcher's decision between two starts (src/launcher/launcher.ts, the real code).
    const launcher = () => new Launcher({ root: path.join(root, 'opt'), stateDir, args: ['agent'], maxStarts: 3, deadlineSeconds: 120, restartDelayMs: 0, node: process.execPath });
    /** Gives the target and waits for an outcome newer than the status before. */
    const settle = async (u: Updater, t: ReleaseTarget) => {
      const was = JSON.stringify(u.status());
      u.onTarget(t);
      for (let i = 0; i < 200 && (JSON.stringify(u.status()) === was || !['refused', 'restarting', 'committed'].includes(u.status().state)); i++) await new Promise((r) => setTimeout(r, 25));
      return u.status();
    };

    it('refuses an unsigned manifest, a tampered bundle, a wrong architecture and a downgrade with nothing changed on disk', async () => {
      const before = await snapshot(path.join(root, 'opt'));
      // Each case its own version: a version refused once is not tried again.
      const key = createPrivateKey(await readFile(path.join(keyDir, 'release.key')));
      const cases: [string, SignedManifest, RegExp][] = [
        ['unsigned', { manifest: { ...signed.manifest, version: '0.2.2' } }, /unsigned/],
        ['wrong arch', signManifest({ ...signed.manifest, version: '0.2.3', arch: 'arm64' }, key), /built for arm64, this box is amd64/],
        ['downgrade', signManifest({ ...signed.manifest, version: '0.0.5', minVersion: undefined }, key), /downgrades are refused/],
      ];
      for (const [what, m, reason] of cases) {
        const u = updater('0.1.0');
        await u.afterStart(async (s) => void reports.push(s), () => undefined);
        const s = await settle(u, target(m));
        assert.equal(s.state, 'refused', what);
        assert.match(s.reason ?? '', reason, what);
        assert.deepEqual(await snapshot(path.join(root, 'opt')), before, `${what}: the release layout changed`);
        assert.equal(restarts, 0, what);
      }
      // Tampered bundle: downloaded, found wrong, deleted; the layout untouched.
      const bytes = await readFile(bundle);
      bytes[100] ^= 0x01;
      served = path.join(dir, 'served-tampered.tar.gz');
      await writeFile(served, bytes);
      const u = updater('0.1.0');
      await u.afterStart(async (s) => void reports.push(s), () => undefined);
      const s = await settle(u, target(signed));
      assert.equal(s.state, 'refused');
      assert.match(s.reason ?? '', /sha256 .* differs from the manifest's/);
      assert.deepEqual(await snapshot(path.join(root, 'opt')), before, 'tampered bundle: the release layout changed');
      assert.deepEqual(await readdir(path.join(stateDir, 'downloads')), [], 'the tampered download is not kept');
      // A refused version is not tried again.
      const again = updater('0.1.0');
      await again.afterStart(async () => {}, () => undefined);
      served = bundle;
      again.onTarget(target(signed));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(again.status().state, 'refused');
      assert.match(again.status().reason ?? '', /refused earlier/);
      assert.deepEqual(await snapshot(path.join(root, 'opt')), before);
    });

    it('refuses an expired manifest with the reason, never that manifest again, and installs a corrected one of the same version', async () => {
      const key = createPrivateKey(await readFile(path.join(keyDir, 'release.key')));
      const before = await snapshot(path.join(root, 'opt'));
      const expired = signManifest({ ...signed.manifest, notAfter: new Date(Date.now() - 60_000).toISOString() }, key);
      const u = updater('0.1.0');
      await u.afterStart(async (st) => void reports.push(st), () => undefined);
      const s = await settle(u, target(expired));
      assert.equal(s.state, 'refused');
      assert.match(s.reason ?? '', new RegExp(`release 0\\.2\\.0 \\(amd64\\) expired at ${expired.manifest.notAfter!.replace(/\./g, '\\.')} \\(notAfter`));
      assert.deepEqual(reports.at(-1)?.state, 'refused', 'the refusal is reported');
      assert.deepEqual(await snapshot(path.join(root, 'opt')), before, 'nothing was downloaded or written');
      assert.deepEqual(Object.entries(JSON.parse(await readFile(path.join(stateDir, 'refused.json'), 'utf8'))).map(([k]) => k), [manifestDigest(expired)], 'recorded by digest');
      // The same manifest again (a restart, a republished desired document): not tried.
      const again = updater('0.1.0');
      await again.afterStart(async () => {}, () => undefined);
      again.onTarget(target(expired));
      await new Promise((r) => setTimeout(r, 200));
      assert.match(again.status().reason ?? '', /^refused earlier: release 0\.2\.0 \(amd64\) expired/);
      // A new rollout with the same manifest hears it too (its own refusal, not an earlier rollout's).
      const r2 = await settle(again, { rollout: 'r2', release: expired });
      assert.deepEqual([r2.state, r2.rollout], ['refused', 'r2']);
      assert.match(r2.reason ?? '', /^refused earlier: /);
      // The corrected upload: the same version re-signed with a later notAfter.
      const fixed = signManifest({ ...signed.manifest, notAfter: new Date(Date.now() + 3600_000).toISOString() }, key);
      assert.equal((await settle(again, target(fixed))).state, 'restarting');
      assert.equal((await launcher().settle()).version, '0.2.0');
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.2.0');
      assert.equal(JSON.parse(await readFile(path.join(stateDir, 'pending.json'), 'utf8')).digest, manifestDigest(fixed));
    });

    it('trusts the keys the running release ships (key rotation) over the configured one, and update.publicKeys', async () => {
      const newKeys = path.join(root, 'new-keys');
      await generateReleaseKeys(newKeys);
      const byNew = signManifest(signed.manifest, createPrivateKey(await readFile(path.join(newKeys, 'release.key'))));
      // update.publicKeys: the configured publicKey missing, the new key listed.
      let u = updater('0.1.0', { publicKey: path.join(root, 'missing.pub'), publicKeys: [path.join(newKeys, 'release.pub')] });
      await u.afterStart(async () => {}, () => undefined);
      assert.equal((await settle(u, target(signed))).state, 'refused');
      assert.match(u.status().reason ?? '', /signed by key [0-9a-f]{16}, which is not trusted/);
      assert.equal((await settle(u, target(byNew))).state, 'restarting');
      // Back to 0.1.0, which now ships only the new key: the configured (old) key is no longer trusted.
      await rm(path.join(stateDir), { recursive: true, force: true });
      await rm(path.join(root, 'opt', 'releases', '0.2.0'), { recursive: true, force: true });
      await rm(path.join(root, 'opt', 'current'));
      await symlink('releases/0.1.0', path.join(root, 'opt', 'current'));
      await mkdir(path.join(root, 'opt', 'releases', '0.1.0', 'release-keys'));
      await writeFile(path.join(root, 'opt', 'releases', '0.1.0', 'release-keys', 'new.pub'), await readFile(path.join(newKeys, 'release.pub')));
      u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      assert.equal((await settle(u, target(signed))).state, 'refused');
      assert.match(u.status().reason ?? '', /which is not trusted/);
      assert.equal((await settle(u, target(byNew))).state, 'restarting');
      assert.equal((await launcher().settle()).version, '0.2.0');
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.2.0');
    });

    it('installs beside the running version, asks the launcher to switch, commits after a healthy start and keeps the previous version', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async (s) => void reports.push(s), () => undefined);
      const s = await settle(u, target(signed));
      assert.equal(s.state, 'restarting');
      assert.equal(restarts, 1);
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.1.0', 'the updater does not switch: the launcher does');
      assert.equal(JSON.parse(await readFile(path.join(root, 'opt', 'releases', '0.2.0', 'package.json'), 'utf8')).version, '0.2.0');
      assert.deepEqual(reports.map((r) => r.state).filter((x, i, a) => a.indexOf(x) === i), ['idle', 'downloading', 'installing', 'restarting']);
      // The launcher switches and starts the new version on trial.
      const plan = await launcher().settle();
      assert.equal(plan.version, '0.2.0');
      assert.equal(plan.trial?.boots, 1);
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.2.0');
      assert.equal(await readlink(path.join(root, 'opt', 'previous')), 'releases/0.1.0');
      const next = updater('0.2.0');
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(next.status().state, 'confirming');
      assert.equal(await next.afterStart(async (st) => void reports.push(st), () => undefined), 'run');
      assert.equal(next.status().state, 'committed');
      assert.equal(next.status().rollout, 'r1');
      assert.deepEqual(next.status().previous, ['0.1.0']);
      await assert.rejects(readlink(path.join(root, 'opt', 'previous')), /ENOENT/, 'confirmed: `previous` removed');
      assert.deepEqual((await readdir(stateDir)).filter((f) => f.startsWith('pending')), []);
      assert.deepEqual(await launcher().settle(), { version: '0.2.0' }, 'no longer on trial');
    });

    it('asks the launcher to roll back when the new version fails its health check, and the previous version reports why', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      assert.equal((await settle(u, target(signed))).state, 'restarting');
      await launcher().settle();
      const next = updater('0.2.0', { failHealthCheck: true });
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(await next.afterStart(async (st) => void reports.push(st), () => undefined), 'restart');
      assert.equal(next.status().state, 'rolledBack');
      assert.match((await launcher().settle()).rolledBack ?? '', /forced by update.failHealthCheck/);
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.1.0');
      const back = updater('0.1.0');
      assert.equal(await back.beforeStart(), 'run');
      const st = back.status();
      assert.equal(st.state, 'rolledBack');
      assert.equal(st.target, '0.2.0');
      assert.equal(st.rollout, 'r1');
      assert.match(st.reason ?? '', /forced by update.failHealthCheck/);
      assert.deepEqual(await readdir(path.join(root, 'opt', 'releases')), ['0.1.0'], 'the failed version is removed');
      // Remembered per manifest: that one is not tried again; a corrected one of the same version is.
      await back.afterStart(async () => {}, () => undefined);
      const restartsBefore = restarts;
      back.onTarget(target(signed));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(back.status().state, 'rolledBack', 'still the rollback, not a new attempt');
      assert.deepEqual(JSON.parse(await readFile(path.join(stateDir, 'refused.json'), 'utf8')), { [manifestDigest(signed)]: st.reason });
      assert.deepEqual(await readdir(path.join(root, 'opt', 'releases')), ['0.1.0']);
      assert.equal(restarts, restartsBefore);
      const fixed = signManifest({ ...signed.manifest, notAfter: '2099-01-01T00:00:00Z' }, createPrivateKey(await readFile(path.join(keyDir, 'release.key'))));
      assert.equal((await settle(back, target(fixed))).state, 'restarting');
    });

    it('is rolled back by the launcher when the new version keeps crashing before it confirms, and the previous version reports why', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      for (let start = 1; start <= 3; start++) assert.equal((await launcher().settle()).trial?.boots, start, `start ${start}`);
      const fourth = await launcher().settle();
      assert.deepEqual(fourth, { version: '0.1.0', rolledBack: 'did not start: exited 3 times without confirming health' });
      const back = updater('0.1.0');
      assert.equal(await back.beforeStart(), 'run');
      assert.equal(back.status().state, 'rolledBack');
      assert.equal(back.status().reason, 'did not start: exited 3 times without confirming health');
    });

    it('gives up a new version that is not healthy by the deadline', async () => {
      const u = updater('0.1.0', { healthDeadlineSeconds: 1 });
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      await launcher().settle();
      const next = updater('0.2.0', { healthDeadlineSeconds: 1 });
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(await next.afterStart(async () => {}, () => 'the controller broker is not reached'), 'restart');
      assert.match(next.status().reason ?? '', /within 1 s of the start: the controller broker is not reached/);
      assert.equal((await launcher().settle()).version, '0.1.0');
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.1.0');
    });

    it('gives up just before the launcher\'s trial deadline (SEINE_TRIAL_DEADLINE), with its own reason', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      await launcher().settle();
      const cfg = UpdateConfigSchema.parse({ root: path.join(root, 'opt'), stateDir, publicKey: path.join(keyDir, 'release.pub'), healthDeadlineSeconds: 120 });
      const next = new Updater({ cfg, running: '0.2.0', arch: 'amd64', server: serverUrl, underLauncher: true, trialDeadline: Date.now() + 2500, restart: async () => {} });
      assert.equal(await next.beforeStart(), 'run');
      const t0 = Date.now();
      assert.equal(await next.afterStart(async () => {}, () => 'the controller broker is not reached'), 'restart');
      assert.ok(Date.now() - t0 < 2500, `gave up before the launcher's deadline (${Date.now() - t0} ms)`);
      assert.match((await launcher().settle()).rolledBack ?? '', /^health check failed within 1 s of the start: the controller broker is not reached$/);
    });

    it('switches current itself when not started by a launcher (a box whose image predates it), and the new version commits', async () => {
      const cfg = UpdateConfigSchema.parse({ root: path.join(root, 'opt'), stateDir, publicKey: path.join(keyDir, 'release.pub'), healthDeadlineSeconds: 5 });
      const u = new Updater({ cfg, running: '0.1.0', arch: 'amd64', server: serverUrl, underLauncher: false, restart: async () => void restarts++ });
      await u.afterStart(async () => {}, () => undefined);
      assert.equal((await settle(u, target(signed))).state, 'restarting');
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.2.0');
      assert.equal(await readlink(path.join(root, 'opt', 'previous')), 'releases/0.1.0');
      const next = updater('0.2.0');
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(await next.afterStart(async () => {}, () => undefined), 'run');
      assert.equal(next.status().state, 'committed');
      await assert.rejects(readlink(path.join(root, 'opt', 'previous')), /ENOENT/);
    });

    it('without a launcher, a new version that fails its health check switches back itself', async () => {
      const cfg = (extra: Record<string, unknown> = {}) => UpdateConfigSchema.parse({ root: path.join(root, 'opt'), stateDir, publicKey: path.join(keyDir, 'release.pub'), healthDeadlineSeconds: 5, ...extra });
      const u = new Updater({ cfg: cfg(), running: '0.1.0', arch: 'amd64', server: serverUrl, underLauncher: false, restart: async () => {} });
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      const next = new Updater({ cfg: cfg({ failHealthCheck: true }), running: '0.2.0', arch: 'amd64', server: serverUrl, underLauncher: false, restart: async () => {} });
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(await next.afterStart(async () => {}, () => undefined), 'restart');
      assert.equal(await readlink(path.join(root, 'opt', 'current')), 'releases/0.1.0');
      await assert.rejects(readlink(path.join(root, 'opt', 'previous')), /ENOENT/);
      const back = new Updater({ cfg: cfg(), running: '0.1.0', arch: 'amd64', server: serverUrl, underLauncher: false, restart: async () => {} });
      assert.equal(await back.beforeStart(), 'run');
      assert.equal(back.status().state, 'rolledBack');
    });

    it('takes update state files that do not parse (0 bytes after a power cut) as absent, never as a crash', async () => {
      await mkdir(stateDir, { recursive: true });
      for (const f of ['pending.json', 'outcome.json', 'refused.json']) await writeFile(path.join(stateDir, f), '');
      const u = updater('0.1.0');
      assert.equal(await u.beforeStart(), 'run');
      assert.equal(await u.afterStart(async (s) => void reports.push(s), () => undefined), 'run');
      assert.equal(u.status().state, 'idle');
      assert.deepEqual(await u.files.refused(), {});
      // And the update goes on from there, written durably (no temp file left behind).
      assert.equal((await settle(u, target(signed))).state, 'restarting');
      assert.deepEqual((await readdir(stateDir)).filter((f) => f.endsWith('.tmp')), []);
      assert.equal((await u.files.readPending())?.to, '0.2.0');
    });

    it('on trial with its pending record lost (0 bytes), the new version still confirms and commits', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      await launcher().settle();
      await writeFile(path.join(stateDir, 'pending.json'), '');
      const next = updater('0.2.0');
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(next.status().state, 'confirming');
      assert.equal(await next.afterStart(async () => {}, () => undefined), 'run');
      assert.equal(next.status().state, 'committed');
      await assert.rejects(readlink(path.join(root, 'opt', 'previous')), /ENOENT/);
    });

    it('on trial with its pending record lost, a rolled-back manifest is still refused by its digest and not tried again', async () => {
      const u = updater('0.1.0');
      await u.afterStart(async () => {}, () => undefined);
      await settle(u, target(signed));
      await launcher().settle();
      await writeFile(path.join(stateDir, 'pending.json'), ''); // the power cut; the launcher rebuilds the record, without a digest
      const trial = await launcher().settle();
      assert.equal(trial.version, '0.2.0');
      assert.equal(trial.trial?.digest, undefined);
      const next = updater('0.2.0', { failHealthCheck: true });
      assert.equal(await next.beforeStart(), 'run');
      assert.equal(await next.afterStart(async () => {}, () => undefined), 'restart');
      assert.match((await launcher().settle()).rolledBack ?? '', /forced by update.failHealthCheck/);
      const back = updater('0.1.0');
      assert.equal(await back.beforeStart(), 'run');
      assert.equal(back.status().state, 'rolledBack');
      assert.deepEqual(Object.keys(await back.files.refused()), [manifestDigest(signed)], 'keyed by the manifest digest, not the version');
      await back.afterStart(async () => {}, () => undefined);
      const restartsBefore = restarts;
      back.onTarget(target(signed));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(back.status().state, 'refused', 'the same manifest is refused, not installed again');
      assert.match(back.status().reason ?? '', /refused earlier: health check failed/);
      assert.equal(restarts, restartsBefore);
      assert.deepEqual(await readdir(path.join(root, 'opt', 'releases')), ['0.1.0']);
    });
  });
});
