// The admin client file, like k3s's k3s.yaml: a secure controller with no admin tokens in its
// config makes one at first start and writes `<data dir>/seinectl.yaml` (0600) with the HTTPS
// URL, the token and the CA, which seinectl reads when nothing else names a server. Only the
// token's hash is kept for verifying (admin-token.sha256); the token itself is read back from the
// admin file at the next start (the URL in it is refreshed), or replaced when that file is gone.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { SeinectlConfigSchema, type SeinectlConfig } from '../api/config.js';
import { createLogger } from '../lib/log.js';
import { hashToken } from './rest/auth.js';

const log = createLogger('controller.admin');

export const ADMIN_FILE = 'seinectl.yaml';
const HASH_FILE = 'admin-token.sha256';

export const adminFile = (dataDir: string) => path.join(dataDir, ADMIN_FILE);

/**
 * The admin token: the one in the admin file when its hash is the kept one, else a new one.
 * Made before REST listens (it is never open), written out with the URL once it is known.
 */
export async function adminToken(dataDir: string): Promise<{ token: string; tokenHash: string }> {
  const known = (await readFile(path.join(dataDir, HASH_FILE), 'utf8').catch(() => '')).trim();
  let token = (await readAdmin(adminFile(dataDir)))?.token;
  if (!token || hashToken(token) !== known) {
    token = randomBytes(32).toString('base64url');
    log.info({ file: adminFile(dataDir) }, known ? 'admin file missing or changed: made a new admin token' : 'made the admin token');
  }
  return { token, tokenHash: hashToken(token) };
}

/** Writes the hash and the admin file (server URL, token, CA), both 0600. */
export async function writeAdminFile(dataDir: string, admin: { token: string; tokenHash: string }, server: string, caFile: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  await writePrivate(path.join(dataDir, HASH_FILE), `${admin.tokenHash}\n`);
  const content: SeinectlConfig = { server, token: admin.token, certificateAuthority: caFile };
  await writePrivate(adminFile(dataDir), stringify(content));
  return adminFile(dataDir);
}

async function readAdmin(file: string): Promise<SeinectlConfig | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = SeinectlConfigSchema.safeParse((() => { try { return parse(text) as unknown; } catch { return undefined; } })());
  return parsed.success ? parsed.data : undefined;
}

/** 0600 from the first byte: written to a private temp file, then renamed over. */
async function writePrivate(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
