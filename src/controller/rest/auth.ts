// Bearer tokens from the config: admin tokens may change state, read-only tokens may only read.
// A configured token may be the token or `sha256:<hex>` of it; either way the presented token's
// SHA-256 is compared with each digest in constant time. With no tokens configured the API is
// open, which only an `insecure: true` controller allows, and only on loopback.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../api/http.js';

export type Access = 'read' | 'admin';

export interface TokenSets {
  adminTokens: readonly string[];
  readOnlyTokens: readonly string[];
}

export function authEnabled(tokens: TokenSets): boolean {
  return tokens.adminTokens.length + tokens.readOnlyTokens.length > 0;
}

/** Who is calling, for the audit log; throws 401/403. */
export function authorize(req: IncomingMessage, tokens: TokenSets, need: Access): string {
  if (!authEnabled(tokens)) return 'anonymous';
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new HttpError(401, 'Unauthorized', 'a bearer token is required (Authorization: Bearer <token>)');
  const token = match[1]!;
  const admin = tokens.adminTokens.findIndex((t) => same(t, token));
  if (admin >= 0) return `admin-token-${admin}`;
  const reader = tokens.readOnlyTokens.findIndex((t) => same(t, token));
  if (reader < 0) throw new HttpError(401, 'Unauthorized', 'unknown bearer token');
  if (need === 'admin') throw new HttpError(403, 'Forbidden', 'this token is read-only');
  return `read-only-token-${reader}`;
}

/** `sha256:<hex>`: how a token is stored when it only needs verifying. */
export function hashToken(token: string): string {
  return `sha256:${sha256(token).toString('hex')}`;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** `configured` (a token or its sha256: hash) against a presented token; both sides are 32-byte digests. */
function same(configured: string, presented: string): boolean {
  const want = configured.startsWith('sha256:') ? Buffer.from(configured.slice(7), 'hex') : sha256(configured);
  const got = sha256(presented);
  return want.length === got.length && timingSafeEqual(want, got);
}
