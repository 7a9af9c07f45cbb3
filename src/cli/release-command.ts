// `seine release`: the release key, bundles and their signed manifests (src/release/).
//   seine release keygen --out DIR                       release.key (0600) + release.pub (ship it as /etc/seine/release.pub)
//   seine release build --arch A --version V [--min-version V] [--not-after T | --valid-for 90d] [--trust-key PUB...] [--key K] --out DIR [--from TREE]
//   seine release sign --manifest M --key K [--not-after T | --valid-for 90d]   (re)sign a manifest in place
//   seine release verify --manifest M --key PUB... [--bundle B] [--arch A --running V]
// The release modules load when a release command runs: every `seine` call parses this file.
import { createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { UserError } from '../lib/errors.js';
import { readUserFile } from '../lib/files.js';
import { isVersion } from '../lib/semver.js';
import { RELEASE_ARCHES, ReleaseManifestSchema, type ReleaseArch } from '../api/release.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

function version(flag: string, v: string | undefined): string | undefined {
  if (v !== undefined && !isVersion(v)) throw new UserError(`${flag} ${JSON.stringify(v)}: expected a version MAJOR.MINOR.PATCH[-pre]`);
  return v;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** --not-after (RFC 3339) or --valid-for (90d, 12h, 30m, 3600s) → the manifest's notAfter; undefined: no expiry. */
export function notAfterOf(o: { notAfter?: string; validFor?: string }, now = Date.now()): string | undefined {
  if (o.notAfter !== undefined && o.validFor !== undefined) throw new UserError('--not-after and --valid-for: give one of them');
  if (o.notAfter !== undefined) {
    if (!ReleaseManifestSchema.shape.notAfter.safeParse(o.notAfter).success) throw new UserError(`--not-after ${JSON.stringify(o.notAfter)}: expected an RFC 3339 time, e.g. 2027-03-01T00:00:00Z`);
    return o.notAfter;
  }
  if (o.validFor === undefined) return undefined;
  const m = /^(\d+)([smhd])$/.exec(o.validFor);
  if (!m || Number(m[1]) === 0) throw new UserError(`--valid-for ${JSON.stringify(o.validFor)}: expected a positive duration such as 90d, 12h, 30m or 3600s`);
  return new Date(now + Number(m[1]) * UNITS[m[2]!]! * 1000).toISOString();
}

const expiry = (notAfter: string | undefined) => (notAfter ? `, not after ${notAfter}${Date.parse(notAfter) < Date.now() ? ' (ALREADY EXPIRED)' : ''}` : ', no expiry');
const collect = (v: string, all: string[] = []) => [...all, v];

export function registerReleaseCommand(program: Command): void {
  const release = program.command('release').description('signed agent releases: keys, bundles, manifests');
  const arch = () => new Option('--arch <arch>', 'target architecture').choices(RELEASE_ARCHES);

  release.command('keygen').description('create an ed25519 release key pair (release.key, release.pub)')
    .requiredOption('--out <dir>', 'where to write them (an existing key is never overwritten)')
    .action(async (o: { out: string }) => {
      const { generateReleaseKeys } = await import('../release/signing.js');
      const k = await generateReleaseKeys(o.out).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? new UserError(`${o.out} already has a release key; remove it first`) : err;
      });
      say(`private key ${k.privateKey} (keep it offline), public key ${k.publicKey} (key id ${k.keyId})`);
    });

  release.command('build').description('bundle the agent tree for one architecture and write its manifest')
    .addOption(arch().makeOptionMandatory())
    .requiredOption('--version <version>', 'the release version')
    .option('--min-version <version>', 'the oldest running version that may take this release')
    .option('--not-after <time>', 'RFC 3339 time after which boxes refuse the release (signed with the manifest)')
    .option('--valid-for <duration>', 'the same as a duration from now: 90d, 12h, 30m, 3600s')
    .option('--trust-key <file>', 'a release public key (PEM) boxes running this release trust instead of their configured ones (key rotation; repeat for several)', collect)
    .option('--key <file>', 'ed25519 private key (PEM) to sign with; without it the manifest is unsigned')
    .requiredOption('--out <dir>', 'where the bundle and manifest go')
    .option('--from <dir>', 'an agent tree (dist/, node_modules/, package.json) built for the target; default: this checkout\'s dist/')
    .action(async (o: { arch: ReleaseArch; version: string; minVersion?: string; notAfter?: string; validFor?: string; trustKey?: string[]; key?: string; out: string; from?: string }) => {
      const { buildRelease } = await import('../release/bundle.js');
      const notAfter = notAfterOf(o);
      const built = await buildRelease({ version: version('--version', o.version)!, arch: o.arch, minVersion: version('--min-version', o.minVersion), keyFile: o.key, outDir: o.out, from: o.from, notAfter, trustKeys: o.trustKey });
      say(`bundle ${built.bundle} (${built.signed.manifest.bundle.size} bytes, sha256 ${built.signed.manifest.bundle.sha256}${o.trustKey?.length ? `, ships ${o.trustKey.length} trusted key(s)` : ''})`);
      say(`manifest ${built.manifestFile} (${built.signed.signature ? `signed, key ${built.signed.signature.keyId}` : 'UNSIGNED: seine release sign'}${expiry(notAfter)})`);
    });

  release.command('sign').description('sign (or re-sign) a release manifest in place')
    .requiredOption('--manifest <file>', 'the .manifest.json')
    .requiredOption('--key <file>', 'ed25519 private key (PEM)')
    .option('--not-after <time>', 'set the RFC 3339 expiry (default: keep the manifest\'s)')
    .option('--valid-for <duration>', 'set the expiry as a duration from now: 90d, 12h, 30m, 3600s')
    .action(async (o: { manifest: string; key: string; notAfter?: string; validFor?: string }) => {
      const { parseSignedManifest } = await import('../release/verify.js');
      const { signManifest } = await import('../release/signing.js');
      const text = await readUserFile(o.manifest);
      const signed = await refusalsAsUserErrors(() => parseSignedManifest(text, o.manifest));
      const notAfter = notAfterOf(o) ?? signed.manifest.notAfter;
      const key = createPrivateKey(await readUserFile(o.key));
      const out = signManifest({ ...signed.manifest, ...(notAfter ? { notAfter } : {}) }, key);
      await writeFile(o.manifest, `${JSON.stringify(out, null, 2)}\n`);
      say(`signed ${o.manifest} with key ${out.signature!.keyId}${expiry(notAfter)}`);
    });

  release.command('verify').description('check a manifest\'s signature, and its bundle and install rules when given')
    .requiredOption('--manifest <file>', 'the .manifest.json')
    .requiredOption('--key <file>', 'a trusted public key (PEM), e.g. /etc/seine/release.pub (repeat for several)', collect)
    .option('--bundle <file>', 'the bundle to check against the manifest (size, sha256)')
    .addOption(arch())
    .option('--running <version>', 'check the install rules for a box running this version (with --arch)')
    .action(async (o: { manifest: string; key: string[]; bundle?: string; arch?: ReleaseArch; running?: string }) => {
      const { checkBundle, checkInstallable, checkNotExpired, checkSignature, loadPublicKey, parseSignedManifest } = await import('../release/verify.js');
      const publicKeys = await Promise.all(o.key.map(async (k) => loadPublicKey(await readUserFile(k), k)));
      await refusalsAsUserErrors(async () => {
        const signed = parseSignedManifest(await readUserFile(o.manifest), o.manifest);
        if (o.arch && o.running) checkInstallable(signed, { publicKeys, arch: o.arch, running: version('--running', o.running)! });
        else {
          checkSignature(signed, publicKeys);
          checkNotExpired(signed);
        }
        if (o.bundle) await checkBundle(signed, o.bundle);
        say(`ok: ${signed.manifest.version} (${signed.manifest.arch}) signed by ${signed.signature!.keyId}${o.bundle ? ', bundle matches' : ''}${o.running ? `, installable over ${o.running}` : ''}`);
      });
    });
}

/** A refusal is the user's to act on: one line, exit code 2 (tests and scripts tell it from other failures). */
async function refusalsAsUserErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  const { ReleaseRefused } = await import('../release/verify.js');
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ReleaseRefused) throw new UserError(`refused (${err.reason}): ${err.message}`, 2);
    throw err;
  }
}
