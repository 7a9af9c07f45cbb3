// The node registry: per-node MQTT credentials (only a scrypt hash is kept), presence from the
// status topic, the last valid report, and the desired document last published for each node
// (its generation only moves forward, across restarts too, so agents can drop stale documents).
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { NodeInfo } from '../../api/controller-api.js';
import type { NodeReported } from '../../api/node-state.js';
import type { SqlDatabase } from '../../lib/sqlite.js';
import { migrateStore } from './schema.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

interface NodeRow {
  name: string;
  secret_hash: string | null;
  created_at: string;
  online: number;
  agent_version: string | null;
  uptime_seconds: number | null;
  last_seen: string | null;
  reported: string | null;
  desired_generation: number;
  desired_hash: string | null;
}

export type NodeChange = 'credentials' | 'presence' | 'report';

export interface NodePresence {
  online: boolean;
  agentVersion?: string;
  uptimeSeconds?: number;
}

export class NodeRegistry {
  /** A digest of each node's verified password, so a reconnect storm does not cost one scrypt each. */
  private readonly verified = new Map<string, Buffer>();
  private readonly known = new Set<string>();
  private readonly listeners = new Set<(node: string, what: NodeChange) => void>();

  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<NodeRegistry> {
    await migrateStore(db);
    return new NodeRegistry(db);
  }

  /** Called when a node gets credentials, changes presence or reports. */
  onChange(listener: (node: string, what: NodeChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Creates (or replaces) the node's password; returns it — the only time it is visible. */
  async createCredentials(node: string, actor: string): Promise<string> {
    const password = randomBytes(24).toString('base64url');
    const salt = randomBytes(16);
    const hash = `scrypt$${salt.toString('base64')}$${(await scrypt(password, salt, 32)).toString('base64')}`;
    const now = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO nodes (name, secret_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash`, [node, hash, now]);
      await tx.run(`INSERT INTO audit (ts, actor, action, object) VALUES (?, ?, 'credentials', ?)`, [now, actor, node]);
    });
    this.verified.delete(node);
    this.emit(node, 'credentials');
    return password;
  }

  /** Registers a node without a password (it logs in with a certificate of the CA); kept if known. */
  async register(node: string, actor: string): Promise<void> {
    const now = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO nodes (name, secret_hash, created_at) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING`, [node, now]);
      await tx.run(`INSERT INTO audit (ts, actor, action, object) VALUES (?, ?, 'register', ?)`, [now, actor, node]);
    });
  }

  async verifyPassword(node: string, password: string): Promise<boolean> {
    // A reconnect skips scrypt; the cache holds a digest (not the password), compared in constant time.
    const digest = createHash('sha256').update(password).digest();
    const cached = this.verified.get(node);
    if (cached && timingSafeEqual(cached, digest)) return true;
    const row = await this.db.get<{ secret_hash: string | null }>('SELECT secret_hash FROM nodes WHERE name = ?', [node]);
    const [scheme, salt, hash] = row?.secret_hash?.split('$') ?? [];
    if (scheme !== 'scrypt' || !salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length);
    const ok = timingSafeEqual(got, expected);
    if (ok) this.verified.set(node, digest);
    return ok;
  }

  async names(): Promise<string[]> {
    return (await this.db.all<{ name: string }>('SELECT name FROM nodes ORDER BY name')).map((r) => r.name);
  }

  async exists(node: string): Promise<boolean> {
    // Nodes are never removed, so a yes can be remembered (a report per node must not cost a query).
    if (this.known.has(node)) return true;
    const found = (await this.db.get('SELECT 1 FROM nodes WHERE name = ?', [node])) !== undefined;
    if (found) this.known.add(node);
    return found;
  }

  async setPresence(node: string, presence: NodePresence): Promise<void> {
    await this.db.run(
      `UPDATE nodes SET online = ?, agent_version = COALESCE(?, agent_version), uptime_seconds = COALESCE(?, uptime_seconds), last_seen = ? WHERE name = ?`,
      [presence.online ? 1 : 0, presence.agentVersion ?? null, presence.uptimeSeconds ?? null, new Date().toISOString(), node],
    );
    this.emit(node, 'presence');
  }

  /** Marks every node offline: after a controller restart nobody is known to be online until it says so. */
  async markAllOffline(): Promise<void> {
    await this.db.run('UPDATE nodes SET online = 0');
  }

  async recordReport(node: string, reported: NodeReported): Promise<void> {
    await this.recordReports(new Map([[node, reported]]));
  }

  /** Many nodes' reports in one transaction (a fleet reporting at once must not cost one commit each). */
  async recordReports(reports: ReadonlyMap<string, NodeReported>): Promise<void> {
    if (!reports.size) return;
    const now = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      for (const [node, reported] of reports) {
        await tx.run(`UPDATE nodes SET reported = ?, agent_version = ?, uptime_seconds = ?, last_seen = ? WHERE name = ?`, [
          JSON.stringify(reported), reported.agentVersion, reported.uptimeSeconds, now, node,
        ]);
      }
    });
    for (const node of reports.keys()) this.emit(node, 'report');
  }

  async reports(): Promise<Map<string, NodeReported>> {
    const rows = await this.db.all<{ name: string; reported: string }>('SELECT name, reported FROM nodes WHERE reported IS NOT NULL');
    return new Map(rows.map((r) => [r.name, JSON.parse(r.reported) as NodeReported]));
  }

  /**
   * Records the hash of the desired document about to be published for `node`; returns its
   * generation, bumped only when the content changed.
   */
  async desiredGeneration(node: string, hash: string): Promise<{ generation: number; changed: boolean }> {
    const got = (await this.desiredGenerations(new Map([[node, hash]]))).get(node);
    if (!got) throw new Error(`unknown node ${node}`);
    return got;
  }

  /** desiredGeneration() for many nodes in one transaction (a fleet-wide change); unknown nodes are left out. */
  async desiredGenerations(hashes: ReadonlyMap<string, string>): Promise<Map<string, { generation: number; changed: boolean }>> {
    if (!hashes.size) return new Map();
    return this.db.transaction(async (tx) => {
      const out = new Map<string, { generation: number; changed: boolean }>();
      const rows = await tx.all<{ name: string; desired_generation: number; desired_hash: string | null }>('SELECT name, desired_generation, desired_hash FROM nodes');
      for (const row of rows) {
        const hash = hashes.get(row.name);
        if (hash === undefined) continue;
        if (row.desired_hash === hash) {
          out.set(row.name, { generation: row.desired_generation, changed: false });
          continue;
        }
        const generation = row.desired_generation + 1;
        await tx.run('UPDATE nodes SET desired_generation = ?, desired_hash = ? WHERE name = ?', [generation, hash, row.name]);
        out.set(row.name, { generation, changed: true });
      }
      return out;
    });
  }

  async list(): Promise<NodeInfo[]> {
    const rows = await this.db.all<NodeRow>('SELECT * FROM nodes ORDER BY name');
    return rows.map((r) => {
      const reported = r.reported ? (JSON.parse(r.reported) as NodeReported) : undefined;
      const objects = Object.values(reported?.objects ?? {});
      return {
        name: r.name,
        online: r.online === 1,
        agentVersion: r.agent_version,
        uptimeSeconds: r.uptime_seconds,
        lastSeen: r.last_seen,
        desiredGeneration: r.desired_generation,
        realizedGeneration: reported?.observedGeneration ?? null,
        objectsRealized: objects.filter((o) => o.phase === 'Realized').length,
        objectsFailed: objects.filter((o) => o.phase === 'Failed').length,
      };
    });
  }

  private emit(node: string, what: NodeChange): void {
    for (const l of this.listeners) l(node, what);
  }
}
