// Node identity in the store: one-time join tokens and the certificates issued to each node.
// A token is `<id>.<secret>`: the id finds the row, only a SHA-256 of the secret is kept (it is
// 192 random bits, so a slow hash buys nothing) and compared in constant time; the first
// enrollment consumes it. Every issued certificate is recorded by serial, so deleting or
// disabling a node can revoke all of them: the revoked serials are the revocation list the
// broker and the node-scoped REST endpoints check at every connect.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SqlDatabase } from '../../lib/sqlite.js';
import { migrateStore } from './schema.js';

export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 24 * 3600;

/** Why a join token was refused; `status` is the HTTP code the enroll endpoint answers with. */
export class JoinTokenError extends Error {
  constructor(readonly reason: 'unknown' | 'used' | 'expired' | 'otherNode' | 'malformed', message: string, readonly status: 401 | 403) {
    super(message);
    this.name = 'JoinTokenError';
  }
}

export interface IssuedJoinToken {
  token: string;
  node: string;
  expiresAt: string;
}

const TOKEN = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{32})$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest();

export class NodeTrust {
  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<NodeTrust> {
    await migrateStore(db);
    return new NodeTrust(db);
  }

  /** A new one-time token for `node` (earlier unused ones for it stay valid until used or expired). */
  async createJoinToken(node: string, ttlSeconds = DEFAULT_JOIN_TOKEN_TTL_SECONDS): Promise<IssuedJoinToken> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
    await this.db.run('INSERT INTO join_tokens (id, node, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [
      id, node, sha256(secret).toString('hex'), now.toISOString(), expiresAt,
    ]);
    return { token: `${id}.${secret}`, node, expiresAt };
  }

  /** Throws JoinTokenError unless `token` is valid for `node` now; does not consume it. */
  async checkJoinToken(node: string, token: string): Promise<string> {
    const m = TOKEN.exec(token);
    if (!m) throw new JoinTokenError('malformed', 'join token: expected <16 hex>.<32 base64url> as `seinectl node add` prints it', 401);
    const row = await this.db.get<{ node: string; secret_hash: string; expires_at: string; used_at: string | null }>(
      'SELECT node, secret_hash, expires_at, used_at FROM join_tokens WHERE id = ?', [m[1]!],
    );
    // Unknown id and wrong secret look the same from outside.
    if (!row || !timingSafeEqual(sha256(m[2]!), Buffer.from(row.secret_hash, 'hex'))) throw new JoinTokenError('unknown', 'unknown join token', 401);
    if (row.used_at) throw new JoinTokenError('used', `join token already used (at ${row.used_at}): ask for a new one with seinectl node add ${row.node}`, 403);
    if (Date.parse(row.expires_at) <= Date.now()) throw new JoinTokenError('expired', `join token expired at ${row.expires_at}: ask for a new one with seinectl node add ${row.node}`, 403);
    if (row.node !== node) throw new JoinTokenError('otherNode', `this join token is for node ${row.node}, not ${node}`, 403);
    return m[1]!;
  }

  /** Marks the token used; false when another request consumed it first. */
  async consumeJoinToken(id: string): Promise<boolean> {
    const r = await this.db.run('UPDATE join_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL', [new Date().toISOString(), id]);
    return r.changes === 1;
  }

  async recordCertificate(node: string, serial: string, notAfter: Date): Promise<void> {
    await this.db.run('INSERT INTO node_certificates (serial, node, issued_at, not_after) VALUES (?, ?, ?, ?)', [serial.toUpperCase(), node, new Date().toISOString(), notAfter.toISOString()]);
  }

  async revokeSerial(serial: string): Promise<void> {
    await this.db.run('UPDATE node_certificates SET revoked_at = ? WHERE serial = ? AND revoked_at IS NULL', [new Date().toISOString(), serial.toUpperCase()]);
  }

  /** Whether the serial is on the revocation list. */
  async isRevoked(serial: string): Promise<boolean> {
    const row = await this.db.get<{ revoked_at: string | null }>('SELECT revoked_at FROM node_certificates WHERE serial = ?', [serial.toUpperCase()]);
    return !!row?.revoked_at;
  }

  async revokedSerials(): Promise<string[]> {
    return (await this.db.all<{ serial: string }>('SELECT serial FROM node_certificates WHERE revoked_at IS NOT NULL ORDER BY serial')).map((r) => r.serial);
  }

  /** Revokes every certificate of the node and drops its unused join tokens; returns the serials revoked now. */
  async revokeNode(node: string): Promise<string[]> {
    const now = new Date().toISOString();
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<{ serial: string }>('SELECT serial FROM node_certificates WHERE node = ? AND revoked_at IS NULL', [node]);
      await tx.run('UPDATE node_certificates SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL', [now, node]);
      await tx.run('DELETE FROM join_tokens WHERE node = ? AND used_at IS NULL', [node]);
      return rows.map((r) => r.serial);
    });
  }
}
