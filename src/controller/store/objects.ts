// The object store: every applied object with uid, generation (bumped on spec change),
// resourceVersion (the store-wide revision of its last change) and creation time; every change
// is written to the audit log in the same transaction. Multi-object applies and deletes are
// all-or-nothing. Listeners hear about changes after they are committed.
import { randomUUID } from 'node:crypto';
import { findQualifiedKind, qualifiedKind, type KindInfo, type ManifestObject } from '../../api/kinds.js';
import { objectKey, type ObjectRef } from '../../api/node-state.js';
import type { SqlDatabase, SqlExecutor } from '../../lib/sqlite.js';
import { canonicalJson } from './canonical-json.js';
import { migrateStore } from './schema.js';

export interface StoredRecord {
  kind: KindInfo;
  namespace?: string;
  name: string;
  uid: string;
  apiVersion: string;
  generation: number;
  resourceVersion: number;
  createdAt: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  spec: unknown;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';
export interface ApplyItem {
  record: StoredRecord;
  outcome: ApplyOutcome;
}

export interface StoreChange {
  action: 'create' | 'update' | 'delete';
  record: StoredRecord;
}

export interface AuditEntry {
  id: number;
  ts: string;
  actor: string;
  action: string;
  object: string;
  uid: string | null;
  generation: number | null;
  resourceVersion: number | null;
  detail: unknown;
}

export class NotFoundError extends Error {
  constructor(readonly ref: ObjectRef) {
    super(`${ref.kind.singular} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name} not found`);
    this.name = 'NotFoundError';
  }
}

/** metadata.resourceVersion given in an apply and not the stored one (optimistic concurrency). */
export class ConflictError extends Error {
  constructor(ref: ObjectRef, given: string, stored: number) {
    super(`${ref.kind.singular} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}: resourceVersion ${given} is stale (now ${stored}); get it again and reapply`);
    this.name = 'ConflictError';
  }
}

interface Row {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  api_version: string;
  generation: number;
  resource_version: number;
  created_at: string;
  labels: string | null;
  annotations: string | null;
  spec: string;
}

export class ObjectStore {
  private readonly listeners = new Set<(changes: StoreChange[]) => void>();

  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<ObjectStore> {
    await migrateStore(db);
    return new ObjectStore(db);
  }

  onChange(listener: (changes: StoreChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async revision(): Promise<number> {
    return (await this.db.get<{ value: number }>('SELECT value FROM revision WHERE id = 1'))!.value;
  }

  async list(kind?: KindInfo, namespace?: string): Promise<StoredRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (kind) where.push('kind = ?') && params.push(qualifiedKind(kind));
    if (namespace !== undefined) where.push('namespace = ?') && params.push(namespace);
    const rows = await this.db.all<Row>(`SELECT * FROM objects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY kind, namespace, name`, params);
    return rows.map(fromRow);
  }

  /**
   * Every object and the store revision they are at, read in one statement (one snapshot, on
   * PostgreSQL too, where two statements may see different commits): what a desired document
   * is built from, and the revision it is stamped with.
   */
  async snapshot(): Promise<{ objects: StoredRecord[]; revision: number }> {
    const rows = await this.db.all<Partial<Row> & { store_revision: number }>(
      'SELECT r.value AS store_revision, o.* FROM revision r LEFT JOIN objects o ON 1 = 1 WHERE r.id = 1 ORDER BY o.kind, o.namespace, o.name',
    );
    return { revision: Number(rows[0]!.store_revision), objects: rows.filter((r) => r.kind != null).map((r) => fromRow(r as Row)) };
  }

  async get(ref: ObjectRef): Promise<StoredRecord | undefined> {
    const row = await getRow(this.db, ref);
    return row && fromRow(row);
  }

  /** Creates or updates every object in one transaction; any conflict leaves the store unchanged. */
  async apply(objects: readonly ManifestObject[], actor: string): Promise<ApplyItem[]> {
    const { items, changes } = await this.db.transaction(async (tx) => {
      const items: ApplyItem[] = [];
      const changes: StoreChange[] = [];
      let revision: number | undefined;
      const nextRevision = async () => (revision ??= (await currentRevision(tx)) + 1);
      const now = new Date().toISOString();
      for (const object of objects) {
        const ref = refOf(object);
        const meta = object.metadata as { labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
        const spec = canonicalJson((object as { spec?: unknown }).spec ?? {});
        const labels = meta.labels && Object.keys(meta.labels).length ? canonicalJson(meta.labels) : null;
        const annotations = meta.annotations && Object.keys(meta.annotations).length ? canonicalJson(meta.annotations) : null;
        const existing = await getRow(tx, ref);
        if (existing && meta.resourceVersion !== undefined && meta.resourceVersion !== String(existing.resource_version)) {
          throw new ConflictError(ref, meta.resourceVersion, existing.resource_version);
        }
        if (existing && existing.spec === spec && existing.labels === labels && existing.annotations === annotations && existing.api_version === object.apiVersion) {
          items.push({ record: fromRow(existing), outcome: 'unchanged' });
          continue;
        }
        const rv = await nextRevision();
        const row: Row = existing
          ? { ...existing, api_version: object.apiVersion, generation: existing.generation + (existing.spec === spec ? 0 : 1), resource_version: rv, labels, annotations, spec }
          : { kind: qualifiedKind(ref.kind), namespace: ref.namespace ?? '', name: ref.name, uid: randomUUID(), api_version: object.apiVersion, generation: 1, resource_version: rv, created_at: now, labels, annotations, spec };
        await tx.run(
          `INSERT INTO objects (kind, namespace, name, uid, api_version, generation, resource_version, created_at, labels, annotations, spec)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (kind, namespace, name) DO UPDATE SET api_version = excluded.api_version, generation = excluded.generation,
             resource_version = excluded.resource_version, labels = excluded.labels, annotations = excluded.annotations, spec = excluded.spec`,
          [row.kind, row.namespace, row.name, row.uid, row.api_version, row.generation, row.resource_version, row.created_at, row.labels, row.annotations, row.spec],
        );
        const record = fromRow(row);
        const action = existing ? 'update' : 'create';
        await audit(tx, { ts: now, actor, action, record });
        items.push({ record, outcome: existing ? 'configured' : 'created' });
        changes.push({ action, record });
      }
      if (revision !== undefined) await tx.run('UPDATE revision SET value = ? WHERE id = 1', [revision]);
      return { items, changes };
    });
    this.emit(changes);
    return items;
  }

  /** Deletes every referenced object, or none when one of them does not exist. */
  async delete(refs: readonly ObjectRef[], actor: string): Promise<StoredRecord[]> {
    const deleted = await this.db.transaction(async (tx) => {
      const now = new Date().toISOString();
      const records: StoredRecord[] = [];
      const revision = (await currentRevision(tx)) + 1;
      for (const ref of refs) {
        const row = await getRow(tx, ref);
        if (!row) throw new NotFoundError(ref);
        await tx.run('DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?', [row.kind, row.namespace, row.name]);
        const record = { ...fromRow(row), resourceVersion: revision };
        await audit(tx, { ts: now, actor, action: 'delete', record });
        records.push(record);
      }
      if (records.length) await tx.run('UPDATE revision SET value = ? WHERE id = 1', [revision]);
      return records;
    });
    this.emit(deleted.map((record) => ({ action: 'delete', record })));
    return deleted;
  }

  /** The newest audit entries first. */
  async auditLog(limit = 100): Promise<AuditEntry[]> {
    const rows = await this.db.all<Omit<AuditEntry, 'detail' | 'resourceVersion'> & { resource_version: number | null; detail: string | null }>(
      'SELECT * FROM audit ORDER BY id DESC LIMIT ?',
      [limit],
    );
    return rows.map(({ resource_version, detail, ...r }) => ({ ...r, resourceVersion: resource_version, detail: detail === null ? null : JSON.parse(detail) }));
  }

  /**
   * Audit retention: deletes entries older than `maxAgeDays` and all but the newest `maxRows`.
   * ISO times compare as text, and the SQL is the same on SQLite and PostgreSQL.
   */
  async pruneAudit(retention: { maxAgeDays: number; maxRows: number }, now = Date.now()): Promise<number> {
    const cutoff = new Date(now - retention.maxAgeDays * 86_400_000).toISOString();
    const old = await this.db.run('DELETE FROM audit WHERE ts < ?', [cutoff]);
    const over = await this.db.run('DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)', [retention.maxRows]);
    return old.changes + over.changes;
  }

  private emit(changes: StoreChange[]): void {
    if (!changes.length) return;
    for (const l of this.listeners) l(changes);
  }
}

export function refOf(object: ManifestObject): ObjectRef & { kind: KindInfo } {
  const kind = findQualifiedKindOf(object);
  const namespace = (object.metadata as { namespace?: string }).namespace;
  return { kind, namespace: kind.namespaced ? (namespace ?? 'default') : undefined, name: object.metadata.name as string };
}

function findQualifiedKindOf(object: ManifestObject): KindInfo {
  const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0]! : '';
  const kind = findQualifiedKind(`${object.kind}.${group}`);
  if (!kind) throw new Error(`no kind ${object.kind} in group ${group}`);
  return kind;
}

async function currentRevision(tx: SqlExecutor): Promise<number> {
  return (await tx.get<{ value: number }>('SELECT value FROM revision WHERE id = 1'))!.value;
}

function getRow(db: SqlExecutor, ref: ObjectRef): Promise<Row | undefined> {
  return db.get<Row>('SELECT * FROM objects WHERE kind = ? AND namespace = ? AND name = ?', [qualifiedKind(ref.kind), ref.namespace ?? '', ref.name]);
}

async function audit(tx: SqlExecutor, e: { ts: string; actor: string; action: string; record: StoredRecord }): Promise<void> {
  await tx.run('INSERT INTO audit (ts, actor, action, object, uid, generation, resource_version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
    e.ts, e.actor, e.action, objectKey(e.record), e.record.uid, e.record.generation, e.record.resourceVersion,
    JSON.stringify({ apiVersion: e.record.apiVersion, labels: e.record.labels, spec: e.record.spec }),
  ]);
}

function fromRow(row: Row): StoredRecord {
  const kind = findQualifiedKind(row.kind);
  if (!kind) throw new Error(`store holds an object of unknown kind ${row.kind}`);
  return {
    kind,
    ...(row.namespace ? { namespace: row.namespace } : {}),
    name: row.name,
    uid: row.uid,
    apiVersion: row.api_version,
    generation: row.generation,
    resourceVersion: row.resource_version,
    createdAt: row.created_at,
    ...(row.labels ? { labels: JSON.parse(row.labels) as Record<string, string> } : {}),
    ...(row.annotations ? { annotations: JSON.parse(row.annotations) as Record<string, string> } : {}),
    spec: JSON.parse(row.spec),
  };
}
