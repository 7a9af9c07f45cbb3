// The box's WireGuard key pair: made once (Curve25519, node:crypto), kept in the agent's state
// dir so a restarted agent — and the peers that know its public key — carry on unchanged.
import { generateKeyPairSync, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WireGuardKeySchema } from '../../api/wireguard.js';

export interface KeyPair {
  /** base64 of the 32 raw bytes, as wg prints keys. */
  privateKey: string;
  publicKey: string;
}

const fromB64url = (s: string) => Buffer.from(s, 'base64url').toString('base64');
const toB64url = (s: string) => Buffer.from(s, 'base64').toString('base64url');

/** The public half of a raw private key (what `wg pubkey` does). */
export function publicKeyOf(privateKey: string): string {
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: toB64url(privateKey), x: '' }, format: 'jwk' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return fromB64url(jwk.x!);
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey: fromB64url(jwk.d!), publicKey: fromB64url(jwk.x!) };
}

export const privateKeyFile = (stateDir: string) => path.join(stateDir, 'wireguard', 'private.key');

/** Reads the stored key, or makes and stores one (0600) at first start. */
export async function loadOrCreateKeyPair(stateDir: string): Promise<KeyPair & { created: boolean }> {
  const file = privateKeyFile(stateDir);
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    const parsed = WireGuardKeySchema.safeParse(text);
    if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues[0]!.message} (remove it to make a new key; peers then need the new public key)`);
    await chmod(file, 0o600); // tightened if someone loosened it
    return { privateKey: parsed.data, publicKey: publicKeyOf(parsed.data), created: false };
  }
  const pair = generateKeyPair();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, pair.privateKey + '\n', { mode: 0o600, flag: 'wx' });
  return { ...pair, created: true };
}
