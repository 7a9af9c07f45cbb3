// The box's flow store: SQLite in WAL mode (`<stateDir>/flows.db`), raw records plus
// per-minute and per-hour rollups, written one transaction per batch (a poll's records) with
// synchronous=FULL, so a kill -9 or a power cut loses at most the batch being written and
// never leaves a torn database. Retention deletes by age and, when the file (plus WAL) grows
// past its bound, the oldest raw records first; incremental auto-vacuum gives the pages back.
//
// Rows go in as multi-row `INSERT … VALUES (…),(…)` statements of ~100 rows with bound values:
// node-sqlite3 pays a round trip per statement, and json_each/json_extract re-parse every row
// per column. Rollups are summed in memory per batch and upserted.
// Columns are named after the FlowRecord fields (IPFIX element names), so rows read back as records.
import { stat } from 'node:fs/promises';
import { FlowRecordSchema, type FlowRecord } from '../../api/flow-record.js';
import { Database, migrate, type SqlExecutor } from '../../lib/sqlite.js';

/** Record fields stored as columns, in FlowRecord order. */
export const RECORD_COLUMNS = Object.keys(FlowRecordSchema.shape) as (keyof FlowRecord)[];
const TEXT_COLUMNS = new Set<string>([
  'sourceIPv4Address', 'destinationIPv4Address', 'sourceIPv6Address', 'destinationIPv6Address', 'sourcePodNamespace', 'sourcePodName',
  'sourceNodeName', 'destinationPodNamespace', 'destinationPodName', 'destinationNodeName', 'destinationClusterIPv4', 'destinationClusterIPv6',
  'destinationServicePortName', 'ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyRuleName',
  'egressNetworkPolicyName', 'egressNetworkPolicyNamespace', 'egressNetworkPolicyRuleName', 'tcpState',
]);

/** Rollup key columns (who, to which port, under which policy) and summed deltas. */
const ROLLUP_KEY = [
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName', 'destinationTransportPort', 'protocolIdentifier',
  'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyName', 'ingressNetworkPolicyRuleAction',
  'egressNetworkPolicyNamespace', 'egressNetworkPolicyName', 'egressNetworkPolicyRuleAction',
] as const;
const ROLLUP_SUMS = ['packetDeltaCount', 'octetDeltaCount', 'reversePacketDeltaCount', 'reverseOctetDeltaCount'] as const;

const col = (c: string) => `${c} ${TEXT_COLUMNS.has(c) ? 'TEXT' : 'INTEGER'}`;
const rollupTable = (name: string) => `CREATE TABLE ${name} (
  bucket INTEGER NOT NULL, ${ROLLUP_KEY.map(col).join(', ')},
  ${ROLLUP_SUMS.map((s) => `${s} INTEGER NOT NULL`).join(', ')}, records INTEGER NOT NULL,
  PRIMARY KEY (bucket, ${ROLLUP_KEY.join(', ')})) WITHOUT ROWID`;

const MIGRATIONS = [
  `CREATE TABLE flow_records (id INTEGER PRIMARY KEY, connKey TEXT NOT NULL, ${RECORD_COLUMNS.map(col).join(', ')});
   CREATE INDEX flow_records_end ON flow_records (flowEndSeconds);
   CREATE INDEX flow_records_src ON flow_records (sourcePodNamespace, sourcePodName);
   CREATE INDEX flow_records_dst ON flow_records (destinationPodNamespace, destinationPodName);
   ${rollupTable('flow_minute')};
   ${rollupTable('flow_hour')};`,
];

export interface StoredRecord {
  /** The connection the record belongs to (zone, protocol, original tuple), stable across its records. */
  connKey: string;
  record: FlowRecord;
}

export interface RetentionOptions {
  /** Records older than this go (flowEndSeconds), rollups too. Default 7 days. */
  maxAgeS: number;
  /** Bound of the database file plus its WAL. Default 200 MB. */
  maxBytes: number;
}

export const DEFAULT_RETENTION: RetentionOptions = { maxAgeS: 7 * 86_400, maxBytes: 200 * 1024 * 1024 };

export interface FlowQuery {
  /** `namespace/name` or `namespace/` (any pod of it): either end. */
  pod?: string;
  namespace?: string;
  /** Policy name (either direction), optionally `namespace/name`. */
  policy?: string;
  /** Unix seconds; records whose flowEndSeconds lie in [since, until]. */
  since?: number;
  until?: number;
  /** Only denied connections (a Drop or Reject action in either direction). */
  denied?: boolean;
  /** The latest record of each connection only (default) or every record. */
  latest?: boolean;
  limit?: number;
}

export interface RollupRow {
  bucket: number;
  [k: string]: string | number;
}

export class FlowStore {
  private batches = 0;

  private constructor(readonly db: Database, private retentionOpts: RetentionOptions) {}

  get retention(): RetentionOptions {
    return this.retentionOpts;
  }

  /** Bounds for the next retention pass (a NodeConfig changed them). */
  setRetention(r: RetentionOptions): void {
    this.retentionOpts = { ...r };
  }

  static async open(file: string, retention: Partial<RetentionOptions> = {}): Promise<FlowStore> {
    const db = await Database.open(file);
    // Before the first table: lets retention hand pages back to the file system.
    await db.exec('PRAGMA auto_vacuum=INCREMENTAL; PRAGMA synchronous=FULL;');
    await migrate(db, 'flows', MIGRATIONS);
    return new FlowStore(db, { ...DEFAULT_RETENTION, ...retention });
  }

  /** One batch, one transaction: raw records and both rollups, or nothing. */
  async insert(batch: readonly StoredRecord[]): Promise<void> {
    if (!batch.length) return;
    await this.db.transaction(async (tx) => {
      await insertRaw(tx, batch);
      await upsertRollup(tx, 'flow_minute', 60, batch);
      await upsertRollup(tx, 'flow_hour', 3600, batch);
    });
    this.batches++;
  }

  /** Age and size retention; returns the bytes (db + WAL) after it. */
  async enforceRetention(nowS = Math.floor(Date.now() / 1000)): Promise<{ deleted: number; bytes: number }> {
    const cutoff = nowS - this.retention.maxAgeS;
    let deleted = (await this.db.run('DELETE FROM flow_records WHERE flowEndSeconds < ?', [cutoff])).changes;
    await this.db.run('DELETE FROM flow_minute WHERE bucket < ?', [cutoff]);
    await this.db.run('DELETE FROM flow_hour WHERE bucket < ?', [cutoff]);
    if (deleted) await this.reclaim();
    // Size: past 90% of the bound, drop the oldest raw records down to ~75% of it in one go
    // (rows to drop estimated from the bytes a row takes), then the minute rollups older than
    // what is left; rollups alone past the bound lose their oldest buckets.
    for (let i = 0; i < 5 && (await this.bytes()) > this.retention.maxBytes * 0.9; i++) {
      const { n } = (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_records'))!;
      const used = await this.usedBytes();
      if (n === 0) {
        const m = (await this.db.run('DELETE FROM flow_minute WHERE bucket IN (SELECT DISTINCT bucket FROM flow_minute ORDER BY bucket LIMIT 60)')).changes;
        if (!m) await this.db.run('DELETE FROM flow_hour WHERE bucket IN (SELECT DISTINCT bucket FROM flow_hour ORDER BY bucket LIMIT 24)');
      } else {
        const excess = used - this.retention.maxBytes * 0.75;
        const rows = Math.min(n, Math.max(Math.ceil(n / 20), Math.ceil((excess / used) * n)));
        deleted += (await this.db.run('DELETE FROM flow_records WHERE id IN (SELECT id FROM flow_records ORDER BY id LIMIT ?)', [rows])).changes;
        const oldest = await this.db.get<{ t: number | null }>('SELECT MIN(flowEndSeconds) AS t FROM flow_records');
        if (oldest?.t) await this.db.run('DELETE FROM flow_minute WHERE bucket < ?', [oldest.t - (oldest.t % 60)]);
      }
      await this.reclaim();
    }
    return { deleted, bytes: await this.bytes() };
  }

  /** Database file plus WAL, bytes. */
  async bytes(): Promise<number> {
    const size = async (f: string) => (await stat(f).catch(() => undefined))?.size ?? 0;
    return (await size(this.db.file)) + (await size(`${this.db.file}-wal`));
  }

  async query(q: FlowQuery = {}): Promise<FlowRecord[]> {
    const { where, params } = whereOf(q);
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 100_000));
    const base = q.latest === false
      ? `SELECT * FROM flow_records ${where} ORDER BY id DESC LIMIT ${limit}`
      : `SELECT * FROM flow_records WHERE id IN (SELECT MAX(id) FROM flow_records ${where} GROUP BY connKey) ORDER BY id DESC LIMIT ${limit}`;
    return (await this.db.all<Record<string, unknown>>(base, params)).map(rowToRecord);
  }

  /** Rollup rows (per minute or hour) matching the same filters (pod, namespace, policy, time). */
  async rollup(granularity: 'minute' | 'hour', q: FlowQuery = {}): Promise<RollupRow[]> {
    const { where, params } = whereOf({ ...q, since: undefined, until: undefined }, 'bucket');
    const time: string[] = [];
    if (q.since !== undefined) (time.push('bucket >= ?'), params.push(q.since - (q.since % (granularity === 'minute' ? 60 : 3600))));
    if (q.until !== undefined) (time.push('bucket <= ?'), params.push(q.until));
    const all = [where.replace(/^WHERE /, ''), ...time].filter(Boolean).join(' AND ');
    return this.db.all<RollupRow>(`SELECT * FROM flow_${granularity} ${all ? `WHERE ${all}` : ''} ORDER BY bucket LIMIT ${Math.max(1, Math.min(q.limit ?? 10_000, 100_000))}`, params);
  }

  async integrityCheck(): Promise<string> {
    return (await this.db.get<{ integrity_check: string }>('PRAGMA integrity_check'))!.integrity_check;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** Bytes in pages that hold data (the file minus its free list). */
  private async usedBytes(): Promise<number> {
    const pc = (await this.db.get<{ page_count: number }>('PRAGMA page_count'))!.page_count;
    const fl = (await this.db.get<{ freelist_count: number }>('PRAGMA freelist_count'))!.freelist_count;
    const ps = (await this.db.get<{ page_size: number }>('PRAGMA page_size'))!.page_size;
    return (pc - fl) * ps;
  }

  private async reclaim(): Promise<void> {
    await this.db.exec('PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);');
  }
}

/** Bound parameters per statement (SQLite allows 32766; ~100-row statements measured fastest here). */
const MAX_PARAMS = 4000;

/** Multi-row VALUES inserts: one statement per ~100 rows, values bound (no JSON parsing in SQL). */
async function insertRaw(tx: SqlExecutor, batch: readonly StoredRecord[]): Promise<void> {
  const cols = ['connKey', ...RECORD_COLUMNS];
  const per = Math.floor(MAX_PARAMS / cols.length);
  const tuple = `(${cols.map(() => '?').join(',')})`;
  for (let i = 0; i < batch.length; i += per) {
    const chunk = batch.slice(i, i + per);
    const params: unknown[] = [];
    for (const b of chunk) {
      params.push(b.connKey);
      const r = b.record as Record<string, unknown>;
      for (const c of RECORD_COLUMNS) params.push(r[c] ?? null);
    }
    await tx.run(`INSERT INTO flow_records (${cols.join(',')}) VALUES ${Array(chunk.length).fill(tuple).join(',')}`, params);
  }
}

/** The batch summed per rollup key in memory, then one upsert per ~1000 keys. */
async function upsertRollup(tx: SqlExecutor, table: string, seconds: number, batch: readonly StoredRecord[]): Promise<void> {
  const groups = new Map<string, unknown[]>();
  const nk = ROLLUP_KEY.length;
  for (const b of batch) {
    const r = b.record as Record<string, unknown>;
    const bucket = Math.floor(Number(r.flowEndSeconds) / seconds) * seconds;
    const key: unknown[] = [bucket];
    for (const c of ROLLUP_KEY) key.push(r[c] ?? (TEXT_COLUMNS.has(c) ? '' : 0));
    const k = key.join('\u0000');
    let g = groups.get(k);
    if (!g) groups.set(k, (g = [...key, 0, 0, 0, 0, 0]));
    for (let j = 0; j < ROLLUP_SUMS.length; j++) (g[nk + 1 + j] as number) += Number(r[ROLLUP_SUMS[j]!] ?? 0);
    (g[nk + 1 + ROLLUP_SUMS.length] as number) += 1;
  }
  const cols = ['bucket', ...ROLLUP_KEY, ...ROLLUP_SUMS, 'records'];
  const per = Math.floor(MAX_PARAMS / cols.length);
  const tuple = `(${cols.map(() => '?').join(',')})`;
  const rows = [...groups.values()];
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    await tx.run(
      `INSERT INTO ${table} (${cols.join(',')}) VALUES ${Array(chunk.length).fill(tuple).join(',')}
       ON CONFLICT DO UPDATE SET ${ROLLUP_SUMS.map((s) => `${s} = ${s} + excluded.${s}`).join(', ')}, records = records + excluded.records`,
      chunk.flat(),
    );
  }
}

function whereOf(q: FlowQuery, timeColumn = 'flowEndSeconds'): { where: string; params: unknown[] } {
  const cond: string[] = [];
  const params: unknown[] = [];
  if (q.pod) {
    const [ns, name] = q.pod.includes('/') ? q.pod.split('/', 2) : ['', q.pod];
    const side = (p: string) => (name ? `(${p}PodNamespace = ? AND ${p}PodName = ?)` : `${p}PodNamespace = ?`);
    cond.push(`(${side('source')} OR ${side('destination')})`);
    const vals = name ? [ns, name] : [ns];
    params.push(...vals, ...vals);
  }
  if (q.namespace) (cond.push('(sourcePodNamespace = ? OR destinationPodNamespace = ?)'), params.push(q.namespace, q.namespace));
  if (q.policy) {
    const [ns, name] = q.policy.includes('/') ? q.policy.split('/', 2) : [undefined, q.policy];
    const dir = (d: string) => (ns !== undefined ? `(${d}NetworkPolicyNamespace = ? AND ${d}NetworkPolicyName = ?)` : `${d}NetworkPolicyName = ?`);
    cond.push(`(${dir('ingress')} OR ${dir('egress')})`);
    const vals = ns !== undefined ? [ns, name] : [name];
    params.push(...vals, ...vals);
  }
  if (q.since !== undefined) (cond.push(`${timeColumn} >= ?`), params.push(q.since));
  if (q.until !== undefined) (cond.push(`${timeColumn} <= ?`), params.push(q.until));
  if (q.denied) cond.push('(ingressNetworkPolicyRuleAction IN (2, 3) OR egressNetworkPolicyRuleAction IN (2, 3))');
  return { where: cond.length ? `WHERE ${cond.join(' AND ')}` : '', params };
}

function rowToRecord(row: Record<string, unknown>): FlowRecord {
  const r: Record<string, unknown> = {};
  for (const c of RECORD_COLUMNS) if (row[c] !== null && row[c] !== undefined) r[c] = row[c];
  return r as FlowRecord;
}
