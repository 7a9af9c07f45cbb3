// Bearer tokens from the config: admin tokens may change state, read-only tokens may only read.
// With no tokens configured the API is open, which the controller allows only on loopback.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

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

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
