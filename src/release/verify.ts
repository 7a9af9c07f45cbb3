// The rules a release must pass before anything of it touches the disk: parsed manifest,
// signature by one of the trusted keys, not expired, the box's architecture, no downgrade, the
// box at or above the release's minimum version; then (once downloaded) the bundle's size and
// sha256. Each refusal carries a reason code and a one-line message naming what was wrong.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SignedManifestSchema, type ReleaseArch, type SignedManifest } from '../api/release.js';
import { describeZodError } from '../api/issues.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { compareVersions } from '../lib/semver.js';
import { keyIdOf, signatureValid } from './signing.js';

export type RefusalReason = 'malformed' | 'unsigned' | 'unknownKey' | 'badSignature' | 'expired' | 'wrongArch' | 'downgrade' | 'belowMinVersion' | 'sizeMismatch' | 'shaMismatch';

export class ReleaseRefused extends Error {
  constructor(readonly reason: RefusalReason, message: string) {
    super(message);
    this.name = 'ReleaseRefused';
  }
}

export function loadPublicKey(pem: string | Buffer, source = 'the release public key'): KeyObject {
  // createPublicKey would derive the public half from a private key: a private key has no business here.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.toString())) throw new Error(`${source}: this is a private key; give the public half (release.pub)`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`${source}: not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${source}: expected an ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/** The keys in these PEM files (an unreadable or wrong file is an error naming it). */
export async function readPublicKeyFiles(files: readonly string[]): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  for (const file of files) {
    const pem = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${file}: cannot read the release public key (${err.code ?? err.message})`);
    });
    keys.push(loadPublicKey(pem, file));
  }
  return keys;
}

/** The `*.pub` files of a directory (none when it does not exist). */
export async function readPublicKeyDir(dir: string): Promise<KeyObject[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return readPublicKeyFiles(names.filter((n) => n.endsWith('.pub')).sort().map((n) => path.join(dir, n)));
}

/** Parses a `.manifest.json` text; malformed → ReleaseRefused('malformed') naming the field. */
export function parseSignedManifest(text: string, source = 'manifest'): SignedManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ReleaseRefused('malformed', `${source}: not JSON (${(err as Error).message})`);
  }
  const r = SignedManifestSchema.safeParse(json);
  if (!r.success) throw new ReleaseRefused('malformed', `${source}: ${describeZodError(r.error)}`);
  return r.data;
}

/**
 * Which signed manifest this is: sha256 of the canonical JSON of manifest and signature. A new
 * bundle or a new signature (re-signed with a later notAfter, or by another key) is a new digest.
 */
export function manifestDigest(signed: SignedManifest): string {
  return createHash('sha256').update(canonicalJson(signed)).digest('hex');
}

/** Signature by one of the trusted keys (the one its keyId names). */
export function checkSignature(signed: SignedManifest, trusted: KeyObject | readonly KeyObject[]): void {
  const m = signed.manifest;
  if (!signed.signature) throw new ReleaseRefused('unsigned', `release ${m.version} (${m.arch}) is unsigned: the manifest has no signature`);
  const keys = Array.isArray(trusted) ? trusted : [trusted as KeyObject];
  const key = keys.find((k) => keyIdOf(k) === signed.signature!.keyId);
  if (!key) {
    const ids = keys.map(keyIdOf);
    throw new ReleaseRefused('unknownKey', `release ${m.version} (${m.arch}) is signed by key ${signed.signature.keyId}, which is not trusted (trusted: ${ids.length ? ids.join(', ') : 'none'})`);
  }
  if (!signatureValid(signed, key)) throw new ReleaseRefused('badSignature', `release ${m.version} (${m.arch}): the signature by key ${signed.signature.keyId} does not match the manifest (tampered or corrupted)`);
}

/** notAfter passed (`now` in ms since the epoch). */
export function checkNotExpired(signed: SignedManifest, now = Date.now()): void {
  const m = signed.manifest;
  if (m.notAfter && now > Date.parse(m.notAfter)) {
    throw new ReleaseRefused('expired', `release ${m.version} (${m.arch}) expired at ${m.notAfter} (notAfter; now ${new Date(now).toISOString()}): re-sign it with a later --not-after and upload it again`);
  }
}

export interface InstallContext {
  /** The trusted release keys (during a key rotation, the old and the new one). */
  publicKeys: readonly KeyObject[];
  arch: ReleaseArch;
  /** The version running now. */
  running: string;
  /** ms since the epoch; default now. */
  now?: number;
}

/** Every rule that needs only the manifest: checked before a byte is downloaded or written. */
export function checkInstallable(signed: SignedManifest, ctx: InstallContext): void {
  checkSignature(signed, ctx.publicKeys);
  checkNotExpired(signed, ctx.now);
  const m = signed.manifest;
  if (m.arch !== ctx.arch) throw new ReleaseRefused('wrongArch', `release ${m.version} is built for ${m.arch}, this box is ${ctx.arch}`);
  if (compareVersions(m.version, ctx.running) <= 0) {
    throw new ReleaseRefused('downgrade', `release ${m.version} is ${compareVersions(m.version, ctx.running) === 0 ? 'the version running' : `older than the running ${ctx.running}`}: downgrades are refused`);
  }
  if (m.minVersion && compareVersions(ctx.running, m.minVersion) < 0) {
    throw new ReleaseRefused('belowMinVersion', `release ${m.version} needs at least ${m.minVersion}; this box runs ${ctx.running}`);
  }
}

/** Size, then sha256 of the bundle file against the (already trusted) manifest. */
export async function checkBundle(signed: SignedManifest, bundlePath: string): Promise<void> {
  const m = signed.manifest;
  const size = (await stat(bundlePath)).size;
  if (size !== m.bundle.size) throw new ReleaseRefused('sizeMismatch', `bundle ${m.bundle.file}: ${size} bytes, the manifest says ${m.bundle.size}`);
  const sha = await sha256File(bundlePath);
  if (sha !== m.bundle.sha256) throw new ReleaseRefused('shaMismatch', `bundle ${m.bundle.file}: sha256 ${sha} differs from the manifest's ${m.bundle.sha256} (tampered or corrupted)`);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
