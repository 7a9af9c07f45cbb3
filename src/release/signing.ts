// ed25519 release keys and manifest signatures (node:crypto). The signature covers the
// manifest's canonical JSON (sorted keys, no spaces), so it survives any re-serialisation of
// the manifest file.
import { createHash, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReleaseManifest, ReleaseSignature, SignedManifest } from '../api/release.js';
import { canonicalJson } from '../lib/canonical-json.js';

export const PRIVATE_KEY_FILE = 'release.key';
export const PUBLIC_KEY_FILE = 'release.pub';

/** Writes release.key (PKCS#8 PEM, 0600) and release.pub (SPKI PEM) into dir; refuses to overwrite a key. */
export async function generateReleaseKeys(dir: string): Promise<{ privateKey: string; publicKey: string; keyId: string }> {
  await mkdir(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const priv = path.join(dir, PRIVATE_KEY_FILE);
  const pub = path.join(dir, PUBLIC_KEY_FILE);
  await writeFile(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await chmod(priv, 0o600);
  await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
  return { privateKey: priv, publicKey: pub, keyId: keyIdOf(publicKey) };
}

/** sha256 of the DER public key, first 16 hex digits. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function signManifest(manifest: ReleaseManifest, privateKey: KeyObject): SignedManifest {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the release key must be ed25519, got ${privateKey.asymmetricKeyType}`);
  const value = sign(null, Buffer.from(canonicalJson(manifest)), privateKey).toString('base64');
  const signature: ReleaseSignature = { algorithm: 'ed25519', keyId: keyIdOf(privateKey), value };
  return { manifest, signature };
}

/** True when the signature is by `publicKey` over this manifest. */
export function signatureValid(signed: SignedManifest, publicKey: KeyObject): boolean {
  if (!signed.signature || publicKey.asymmetricKeyType !== 'ed25519') return false;
  return verify(null, Buffer.from(canonicalJson(signed.manifest)), publicKey, Buffer.from(signed.signature.value, 'base64'));
}
