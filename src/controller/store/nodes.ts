// The node registry: per-node MQTT credentials (only a scrypt hash is kept), presence from the
// status topic, the last valid report, and the desired document last published for each node
// (its generation only moves forward, across restarts too, so agents can drop stale documents).
// Reports are read far more often than written (every REST GET of an object, every publication),
// so the registry keeps them parsed in memory, kept up to date as they are recorded; with a store
// shared by replicas (each takes some nodes' reports) it rereads the rows (at most every
// SHARED_REPORTS_MS) but parses only the reports whose text changed. Each node's kept report is
// one object for the node's life, updated in place (kept-report.ts: only what changed is
// replaced), so a fleet reporting every round does not turn every kept report into garbage.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { NodeInfo } from '../../api/controller-api.js';
import type { NodeReported } from '../../api/node-state.js';
import type { SqlDatabase, SqlExecutor } from '../../lib/sqlite.js';
import { absorbReport, arrivalDelta, emptyDelta, removalDelta, type ReportDelta } from './kept-report.js';
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
  disabled: number;
}

/** With a store shared by replicas, report rows read less than this long ago are not read again. */
const SHARED_REPORTS_MS = 250;

/**
 * Node names checked against the store less than this long ago are not checked again: a node
 * `seine controller credentials` adds from outside (or, shared, another replica registers) shows
 * within this time, and a REST read or a publication with 10k nodes costs no query for them.
 */
const NAMES_CHECK_MS = 250;

/** Nodes' reports or presences written per UPDATE statement (5 parameters each: well under SQLite's and PostgreSQL's limits). */
const ROWS_PER_STATEMENT = 200;

/** Told a node's kept report after a change (undefined: it left) and what moved in it. */
export type ReportListener = (node: string, reported: NodeReported | undefined, delta: ReportDelta) => void;

/** `removed`: deleted or disabled (it leaves spans, Egress assignments and rollouts). */
export type NodeChange = 'credentials' | 'presence' | 'report' | 'removed';

export interface NodePresence {
  online: boolean;
  agentVersion?: string;
  uptimeSeconds?: number;
}

/** Desired documents built from an older store revision than documents already recorded (desiredGenerations). */
export class StaleViewError extends Error {
  constructor(readonly builtFrom: number, readonly published: number) {
    super(`desired documents built from store revision ${builtFrom}, older than revision ${published} already published from: read the store again`);
    this.name = 'StaleViewError';
  }
}

export class NodeRegistry {
  /** A digest of each node's verified password, so a reconnect storm does not cost one scrypt each. */
  private readonly verified = new Map<string, Buffer>();
  private readonly known = new Set<string>();
  private readonly listeners = new Set<(node: string, what: NodeChange) => void>();
  private readonly reportListeners = new Set<ReportListener>();
  /**
   * Kept reports by node, loaded on first use; their texts too when shared (an unchanged row is
   * not parsed again). The two change together, always: a text beside an older parse would keep
   * that parse for good (issue #22: a replica's status stuck short of what the boxes reported).
   */
  private reportIndex?: Map<string, NodeReported>;
  private reportTexts = new Map<string, string>();
  /** Enabled node names, sorted, frozen: callers get this one array until the nodes change. */
  private nameCache?: readonly string[];
  /** When nameCache was last found to match the store, and the check under way. */
  private namesCheckedAt = 0;
  private namesCheck?: { epoch: number; names: Promise<readonly string[]> };
  private namesEpoch = 0;
  /** Shared store: when the report rows were last read, and the read under way. */
  private reportsReadAt = 0;
  private reading?: Promise<Map<string, NodeReported>>;
  /**
   * While a read of the report rows is under way: this replica's own reports (and removals)
   * recorded meanwhile. The rows may predate them, so the read's index takes these over the rows.
   */
  private ownDuringRead?: Map<string, { text: string; reported: NodeReported } | undefined>;

  private constructor(private readonly db: SqlDatabase, private readonly shared: boolean) {}

  /** `shared`: other controller replicas write this store too (reports and nodes are reread). */
  static async open(db: SqlDatabase, opts: { shared?: boolean } = {}): Promise<NodeRegistry> {
    await migrateStore(db);
    return new NodeRegistry(db, opts.shared ?? false);
  }

  /** Called when a node gets credentials, changes presence or reports. */
  onChange(listener: (node: string, what: NodeChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Told every change of the in-memory report index once it is loaded (loadedReports() is the
   * starting point): a node's kept report and what the new report changed in it, or undefined
   * when its report leaves (node removed or disabled; the delta then takes away all it held).
   * With a shared store the other replicas' reports come when a reread finds them.
   */
  onReport(listener: ReportListener): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  /** The in-memory report index as it stands now, if loaded (read-only; reports() loads it). */
  loadedReports(): ReadonlyMap<string, NodeReported> | undefined {
    return this.reportIndex;
  }

  /** Creates (or replaces) the node's password; returns it — the only time it is visible. */
  async createCredentials(node: string, actor: string): Promise<string> {
    const password = randomBytes(24).toString('base64url');
    const salt = randomBytes(16);
    const hash = `scrypt$${salt.toString('base64')}$${(await scrypt(password, salt, 32)).toString('base64')}`;
    const now = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO nodes (name, secret_hash, created_at, desired_generation) VALUES (?, ?, ?, COALESCE((SELECT desired_generation FROM removed_nodes WHERE name = ?), 0))
         ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash`,
        [node, hash, now, node],
      );
      await tx.run(`INSERT INTO audit (ts, actor, action, object) VALUES (?, ?, 'credentials', ?)`, [now, actor, node]);
    });
    this.verified.delete(node);
    this.emit(node, 'credentials');
    return password;
  }

  /**
   * Registers the node without a password (it enrolls with a join token); a disabled node is
   * enabled again. Returns false when it was registered and enabled already.
   */
  async register(node: string, actor: string): Promise<boolean> {
    const now = new Date().toISOString();
    const added = await this.db.transaction(async (tx) => {
      const row = await tx.get<{ disabled: number }>('SELECT disabled FROM nodes WHERE name = ?', [node]);
      if (row && !row.disabled) return false;
      if (row) await tx.run('UPDATE nodes SET disabled = 0 WHERE name = ?', [node]);
      else {
        const removed = await tx.get<{ desired_generation: number }>('SELECT desired_generation FROM removed_nodes WHERE name = ?', [node]);
        await tx.run('INSERT INTO nodes (name, created_at, desired_generation) VALUES (?, ?, ?)', [node, now, removed?.desired_generation ?? 0]);
      }
      await tx.run(`INSERT INTO audit (ts, actor, action, object) VALUES (?, ?, 'register', ?)`, [now, actor, node]);
      return true;
    });
    if (added) this.emit(node, 'credentials');
    return added;
  }

  /**
   * Deletes the node (`disable: false`) or keeps it marked disabled; either way its password,
   * last report and presence go. False when there was no such node. Certificates are revoked
   * by the caller (NodeTrust.revokeNode).
   */
  async remove(node: string, actor: string, opts: { disable: boolean }): Promise<boolean> {
    const now = new Date().toISOString();
    const found = await this.db.transaction(async (tx) => {
      if (!opts.disable) {
        const row = await tx.get<{ desired_generation: number }>('SELECT desired_generation FROM nodes WHERE name = ?', [node]);
        if (row) {
          await tx.run('INSERT INTO removed_nodes (name, desired_generation) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET desired_generation = excluded.desired_generation', [node, row.desired_generation]);
        }
      }
      const r = opts.disable
        ? await tx.run('UPDATE nodes SET disabled = 1, secret_hash = NULL, reported = NULL, online = 0 WHERE name = ?', [node])
        : await tx.run('DELETE FROM nodes WHERE name = ?', [node]);
      if (r.changes) await tx.run(`INSERT INTO audit (ts, actor, action, object) VALUES (?, ?, ?, ?)`, [now, actor, opts.disable ? 'disable' : 'delete', node]);
      return r.changes > 0;
    });
    this.verified.delete(node);
    this.known.delete(node);
    if (found) this.emit(node, 'removed');
    return found;
  }

  async verifyPassword(node: string, password: string): Promise<boolean> {
    // A reconnect skips scrypt; the cache holds a digest (not the password), compared in constant time.
    const digest = createHash('sha256').update(password).digest();
    const cached = this.verified.get(node);
    if (cached && timingSafeEqual(cached, digest)) return true;
    const row = await this.db.get<{ secret_hash: string | null }>('SELECT secret_hash FROM nodes WHERE name = ? AND disabled = 0', [node]);
    const [scheme, salt, hash] = row?.secret_hash?.split('$') ?? [];
    if (scheme !== 'scrypt' || !salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length);
    const ok = timingSafeEqual(got, expected);
    if (ok) this.verified.set(node, digest);
    return ok;
  }

  /**
   * Enabled node names, sorted. The same frozen array is handed out until the nodes change, so
   * callers may key caches by it (spans filtered by it, sets made of it).
   */
  async names(): Promise<readonly string[]> {
    const cached = this.nameCache;
    if (cached && performance.now() - this.namesCheckedAt < NAMES_CHECK_MS) return cached;
    // Callers at once share one check (not one begun before a registration or removal).
    if (this.namesCheck?.epoch !== this.namesEpoch) {
      const check = { epoch: this.namesEpoch, names: this.checkNames().finally(() => this.namesCheck === check && (this.namesCheck = undefined)) };
      this.namesCheck = check;
    }
    return this.namesCheck.names;
  }

  private async checkNames(): Promise<readonly string[]> {
    // Registrations and removals move the epoch: a list read while one came in is not cached.
    const epoch = this.namesEpoch;
    const cached = this.nameCache;
    const checkedAt = performance.now();
    if (cached && !this.shared) {
      // A count is far cheaper than the list; it also sees a node `seine controller credentials` added from outside.
      const count = await this.db.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM nodes WHERE disabled = 0');
      if (Number(count?.n) === cached.length && this.namesEpoch === epoch) {
        this.namesCheckedAt = checkedAt;
        return cached;
      }
    }
    const read = (await this.db.all<{ name: string }>('SELECT name FROM nodes WHERE disabled = 0 ORDER BY name')).map((r) => r.name);
    // Shared: other replicas register nodes, so the list is reread; an unchanged one stays the same array.
    const names = cached && read.length === cached.length && read.every((n, i) => n === cached[i]) ? cached : Object.freeze(read);
    if (this.namesEpoch === epoch) {
      if (cached && names !== cached) this.removedElsewhere(cached, read);
      this.nameCache = names;
      this.namesCheckedAt = checkedAt;
    }
    return names;
  }

  /**
   * Shared store: nodes another replica removed (or disabled) since the last check are gone from
   * the list. They leave here as they do on the replica that removed them: no longer known or
   * verified, and told as `removed` (spans, Egress, rollouts, the report intake forget them).
   */
  private removedElsewhere(before: readonly string[], now: readonly string[]): void {
    const still = new Set(now);
    for (const node of before.filter((n) => !still.has(n))) {
      this.verified.delete(node);
      this.known.delete(node);
      this.emit(node, 'removed');
    }
  }

  async exists(node: string): Promise<boolean> {
    // A yes is remembered until remove() (a report per node must not cost a query). With a store
    // shared by replicas another replica's removal is seen at the next check of the names
    // (names(), every NAMES_CHECK_MS while anything asks); its certificates are refused at once
    // all the same (the revocation list is read per connect).
    if (this.known.has(node)) return true;
    const found = (await this.db.get('SELECT 1 FROM nodes WHERE name = ? AND disabled = 0', [node])) !== undefined;
    if (found) this.known.add(node);
    return found;
  }

  async setPresence(node: string, presence: NodePresence): Promise<void> {
    await this.setPresences(new Map([[node, presence]]));
  }

  /**
   * Many nodes' presence at once, a few hundred per statement (every box reports when a
   * fleet-wide document arrives, and each report says its box is online).
   */
  async setPresences(presences: ReadonlyMap<string, NodePresence>): Promise<void> {
    if (!presences.size) return;
    const now = new Date().toISOString();
    const rows = [...presences];
    const write = async (tx: SqlExecutor) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
        await tx.run(
          `UPDATE nodes SET online = v.column2, agent_version = COALESCE(v.column3, nodes.agent_version), uptime_seconds = COALESCE(v.column4, nodes.uptime_seconds), last_seen = ?
           FROM (VALUES ${chunk.map(() => '(?, CAST(? AS INTEGER), ?, CAST(? AS REAL))').join(', ')}) AS v
           WHERE nodes.name = v.column1`,
          [now, ...chunk.flatMap(([node, p]) => [node, p.online ? 1 : 0, p.agentVersion ?? null, p.uptimeSeconds ?? null])],
        );
      }
    };
    // One row needs no transaction (a PostgreSQL transaction also takes the store's write lock).
    // More do: every replica hears every box's status and writes the same rows, and two
    // multi-row UPDATEs locking them in different orders deadlock unless the lock serializes them.
    await (rows.length === 1 ? write(this.db) : this.db.transaction(write));
    for (const node of presences.keys()) this.emit(node, 'presence');
  }

  /** Marks every node offline: after a controller restart nobody is known to be online until it says so. */
  async markAllOffline(): Promise<void> {
    // Every row: in a transaction (the store's write lock), as every multi-row write, or it can deadlock with another replica's.
    await this.db.transaction((tx) => tx.run('UPDATE nodes SET online = 0'));
  }

  async recordReport(node: string, reported: NodeReported): Promise<void> {
    await this.recordReports(new Map([[node, reported]]));
  }

  /**
   * Many nodes' reports in one transaction (a fleet reporting at once must not cost one commit
   * each). `sentAt`: the agent's time of each report; one older than the stored report is
   * skipped (another replica took the newer one first). Presence is not touched here (the
   * receiver writes it by itself, whether or not the report is written). Returns the nodes
   * whose report was written.
   */
  async recordReports(reports: ReadonlyMap<string, NodeReported>, sentAt: ReadonlyMap<string, number> = new Map()): Promise<Set<string>> {
    if (!reports.size) return new Set();
    const now = new Date().toISOString();
    const rows = [...reports].map(([node, reported]): [string, string, NodeReported] => [node, JSON.stringify(reported), reported]);
    const write = async (tx: SqlExecutor) => {
      const out: [string, string, NodeReported][] = [];
      // A few hundred rows per statement (UPDATE … FROM VALUES, SQLite and PostgreSQL alike): a
      // fleet's reports are tens of statements, not one round trip to the database each.
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
        const updated = await tx.all<{ name: string }>(
          `UPDATE nodes SET reported = v.column2, agent_version = v.column3, uptime_seconds = v.column4, last_seen = ?, reported_ts = v.column5
           FROM (VALUES ${chunk.map(() => '(?, ?, ?, CAST(? AS REAL), CAST(? AS BIGINT))').join(', ')}) AS v
           WHERE nodes.name = v.column1 AND nodes.disabled = 0
             AND (nodes.reported_ts IS NULL OR v.column5 IS NULL OR nodes.reported_ts <= v.column5) RETURNING name`,
          [now, ...chunk.flatMap(([node, text, r]) => [node, text, r.agentVersion, r.uptimeSeconds, sentAt.get(node) ?? null])],
        );
        const names = new Set(updated.map((u) => u.name));
        for (const row of chunk) if (names.has(row[0])) out.push(row);
      }
      return out;
    };
    // One report is one statement, atomic by itself: no BEGIN and COMMIT around it (each is a
    // trip through SQLite's worker thread, on the apply → Realized path: docs/agent.md, Speed).
    const written = reports.size === 1 ? await write(this.db) : await this.db.transaction(write);
    for (const [node, text, reported] of written) this.ownReport(node, { text, reported });
    for (const [node] of written) this.emit(node, 'report');
    return new Set(written.map(([node]) => node));
  }

  /** The last report of every enabled node that reported (read-only: the registry's own index). */
  async reports(): Promise<ReadonlyMap<string, NodeReported>> {
    return this.loadReports();
  }

  /** One node's last report, if any. */
  async report(node: string): Promise<NodeReported | undefined> {
    return (await this.loadReports()).get(node);
  }

  private async loadReports(): Promise<Map<string, NodeReported>> {
    if (this.reportIndex && !this.shared) return this.reportIndex;
    // Shared: rows read moments ago serve again, and callers at once share one read (REST polls
    // and publications must not each reread a 10k fleet's reports). Own reports are in the index
    // at once; the other replicas' show within SHARED_REPORTS_MS.
    if (this.reportIndex && performance.now() - this.reportsReadAt < SHARED_REPORTS_MS) return this.reportIndex;
    this.reading ??= this.rereadReports().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async rereadReports(): Promise<Map<string, NodeReported>> {
    this.reportsReadAt = performance.now();
    // One read, whatever this replica records meanwhile: its own reports go over the rows read
    // (they may predate them), so a fleet reporting all the time never makes the read start over.
    const own = new Map<string, { text: string; reported: NodeReported } | undefined>();
    this.ownDuringRead = own;
    try {
      const rows = await this.db.all<{ name: string; reported: string }>('SELECT name, reported FROM nodes WHERE reported IS NOT NULL AND disabled = 0');
      const before = this.reportIndex;
      const index = new Map<string, NodeReported>();
      const texts = new Map<string, string>();
      for (const r of rows) {
        const was = before?.get(r.name);
        index.set(r.name, was && this.reportTexts.get(r.name) === r.reported ? was : (JSON.parse(r.reported) as NodeReported));
        if (this.shared) texts.set(r.name, r.reported);
      }
      for (const [node, r] of own) {
        if (r) index.set(node, r.reported);
        else index.delete(node);
        if (r && this.shared) texts.set(node, r.text);
        else texts.delete(node);
      }
      this.reportTexts = texts;
      this.replaceReports(index);
      return index;
    } finally {
      this.ownDuringRead = undefined;
    }
  }

  /**
   * Installs a reread index: a changed row is taken into the node's kept report (the index then
   * holds the kept one); listeners hear of every node whose report it changed.
   */
  private replaceReports(index: Map<string, NodeReported>): void {
    const before = this.reportIndex;
    if (before) {
      for (const [node, reported] of index) if (before.get(node) !== reported) this.keep(before, node, reported);
      for (const [node, kept] of before) {
        if (index.has(node)) index.set(node, kept);
        else for (const l of this.reportListeners) l(node, undefined, removalDelta(kept));
      }
    }
    this.reportIndex = index;
  }

  /** Takes a parsed report into the node's kept report in `index` (the report itself on its first); tells the listeners what moved. */
  private keep(index: Map<string, NodeReported>, node: string, reported: NodeReported): void {
    const kept = index.get(node);
    if (kept === reported) return;
    if (!kept) index.set(node, reported);
    const delta = kept ? absorbReport(kept, reported) : arrivalDelta(reported);
    if (kept && emptyDelta(delta)) return;
    for (const l of this.reportListeners) l(node, kept ?? reported, delta);
  }

  /** A report this replica recorded (or a node it removed: undefined) goes into the index at once, and over a read under way. */
  private ownReport(node: string, r: { text: string; reported: NodeReported } | undefined): void {
    this.ownDuringRead?.set(node, r);
    if (!this.reportIndex) return;
    if (r) {
      this.keep(this.reportIndex, node, r.reported);
      if (this.shared) this.reportTexts.set(node, r.text);
    } else {
      this.reportTexts.delete(node);
      const kept = this.reportIndex.get(node);
      if (kept) {
        this.reportIndex.delete(node);
        for (const l of this.reportListeners) l(node, undefined, removalDelta(kept));
      }
    }
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

  /**
   * desiredGeneration() for many nodes in one transaction (a fleet-wide change); unknown nodes are
   * left out. `builtFrom`: the store revision the documents were built from (ObjectStore.snapshot).
   * Documents built from an older revision than some already recorded are refused as a whole
   * (StaleViewError, nothing written): with replicas, one that read the objects before another
   * stored and published a change would otherwise publish the old content under a higher
   * generation, and the box would realize it. The check is one row in the same transaction
   * (the store's write lock orders it against every other replica's).
   */
  async desiredGenerations(hashes: ReadonlyMap<string, string>, builtFrom?: number): Promise<Map<string, { generation: number; changed: boolean }>> {
    if (!hashes.size) return new Map();
    return this.db.transaction(async (tx) => {
      if (builtFrom !== undefined) {
        const { published } = (await tx.get<{ published: number }>('SELECT published FROM revision WHERE id = 1'))!;
        if (Number(published) > builtFrom) throw new StaleViewError(builtFrom, Number(published));
        if (Number(published) < builtFrom) await tx.run('UPDATE revision SET published = ? WHERE id = 1', [builtFrom]);
      }
      const out = new Map<string, { generation: number; changed: boolean }>();
      // A partial publication (a few nodes) reads its rows by name in one statement (one client
      // runs one query at a time: PostgreSQL's pg refuses them side by side), a fleet-wide one the whole table.
      type Row = { name: string; desired_generation: number; desired_hash: string | null };
      const names = [...hashes.keys()];
      const rows = names.length <= 64
        ? await tx.all<Row>(`SELECT name, desired_generation, desired_hash FROM nodes WHERE name IN (${names.map(() => '?').join(', ')})`, names)
        : await tx.all<Row>('SELECT name, desired_generation, desired_hash FROM nodes');
      // Nodes whose document moved, by new hash: a fleet-wide change is a few statements (one per
      // distinct document, in chunks), not one per node.
      const moved = new Map<string, string[]>();
      for (const row of rows) {
        const hash = hashes.get(row.name);
        if (hash === undefined) continue;
        if (row.desired_hash === hash) {
          out.set(row.name, { generation: row.desired_generation, changed: false });
          continue;
        }
        out.set(row.name, { generation: row.desired_generation + 1, changed: true });
        const same = moved.get(hash);
        if (same) same.push(row.name);
        else moved.set(hash, [row.name]);
      }
      for (const [hash, names] of moved) {
        for (let i = 0; i < names.length; i += 500) {
          const chunk = names.slice(i, i + 500);
          await tx.run(`UPDATE nodes SET desired_generation = desired_generation + 1, desired_hash = ? WHERE name IN (${chunk.map(() => '?').join(', ')})`, [hash, ...chunk]);
        }
      }
      return out;
    });
  }

  /** The names of the nodes online now: one column read, not list()'s parse of every stored report. */
  async onlineNames(): Promise<Set<string>> {
    const rows = await this.db.all<{ name: string }>('SELECT name FROM nodes WHERE online = 1');
    return new Set(rows.map((r) => r.name));
  }

  /** How many nodes there are (disabled ones too, as list() has them) and how many are online. */
  async presenceCounts(): Promise<{ nodes: number; online: number }> {
    const row = await this.db.get<{ n: number | string; online: number | string | null }>('SELECT COUNT(*) AS n, SUM(online) AS online FROM nodes');
    return { nodes: Number(row?.n ?? 0), online: Number(row?.online ?? 0) };
  }

  async list(): Promise<NodeInfo[]> {
    const reports = await this.loadReports();
    const rows = await this.db.all<Omit<NodeRow, 'reported'>>('SELECT name, secret_hash, created_at, online, agent_version, uptime_seconds, last_seen, desired_generation, desired_hash, disabled FROM nodes ORDER BY name');
    return rows.map((r) => {
      const reported = reports.get(r.name);
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
        ...(r.disabled ? { disabled: true } : {}),
      };
    });
  }

  private emit(node: string, what: NodeChange): void {
    if (what === 'credentials' || what === 'removed') {
      this.nameCache = undefined;
      this.namesEpoch++;
    }
    if (what === 'removed') this.ownReport(node, undefined);
    for (const l of this.listeners) l(node, what);
  }
}
