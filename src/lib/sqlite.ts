// A small promise wrapper over node-sqlite3 (callback API): WAL mode, run/get/all/exec,
// transactions, and versioned migrations per module. One connection runs one statement at a
// time, so every call goes through one FIFO queue; a transaction holds the queue from BEGIN to
// COMMIT, which keeps other callers' statements from landing inside it.
import sqlite3 from 'sqlite3';

export type SqlParams = unknown[] | Record<string, unknown>;

export interface SqlRunResult {
  changes: number;
  lastId: number;
}

/** What both the database and a transaction handle offer. */
export interface SqlExecutor {
  run(sql: string, params?: SqlParams): Promise<SqlRunResult>;
  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

/**
 * A database with transactions: this SQLite wrapper, or another engine behind the same calls
 * (the controller's PostgreSQL store). SQL is written for SQLite with `?` placeholders.
 */
export interface SqlDatabase extends SqlExecutor {
  /** Where the data lives (a file, or a URL without its password), for messages. */
  readonly file: string;
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** How long a statement waits for another process's lock, ms. */
  busyTimeoutMs?: number;
}

/** A statement prepared once and run many times (see Database.prepare). */
export interface PreparedStatement {
  run(params?: SqlParams): Promise<SqlRunResult>;
}

export class Database implements SqlDatabase {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly prepared = new Map<string, sqlite3.Statement>();

  private constructor(private readonly raw: sqlite3.Database, readonly file: string) {}

  /** Open (creating if needed) with WAL journaling, foreign keys on and a busy timeout. */
  static async open(file: string, opts: OpenOptions = {}): Promise<Database> {
    const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
      const db: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? reject(new Error(`sqlite: cannot open ${file}: ${err.message}`)) : resolve(db)));
    });
    const db = new Database(raw, file);
    await db.exec(
      `PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=${opts.busyTimeoutMs ?? 5000};`,
    );
    return db;
  }

  run(sql: string, params: SqlParams = []): Promise<SqlRunResult> {
    return this.enqueue(() => rawRun(this.raw, sql, params));
  }

  get<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return this.enqueue(() => rawGet<T>(this.raw, sql, params));
  }

  all<T = Record<string, unknown>>(sql: string, params: SqlParams = []): Promise<T[]> {
    return this.enqueue(() => rawAll<T>(this.raw, sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.enqueue(() => rawExec(this.raw, sql));
  }

  /**
   * A write statement compiled once and kept until close: on a hot path (the agent's document and
   * outbox writes) each call then skips SQLite's parse and plan and node-sqlite3's per-call
   * Statement object. Compiled right away, in the queue, so the first run does not pay for it (a
   * box's first desired document after start is then as cheap as the next); a compile error
   * (e.g. a missing table) is thrown by every run. Runs through the same queue as run(); not for
   * use inside a transaction (the queue is held there).
   */
  prepare(sql: string): PreparedStatement {
    const compiled = this.enqueue(async () => {
      let stmt = this.prepared.get(sql);
      if (!stmt) {
        stmt = await new Promise<sqlite3.Statement>((resolve, reject) => {
          const st: sqlite3.Statement = this.raw.prepare(sql, (err: Error | null) => (err ? reject(sqlError(err, sql)) : resolve(st)));
        });
        this.prepared.set(sql, stmt);
      }
      return stmt;
    });
    compiled.catch(() => {}); // reported by run(), not as an unhandled rejection
    return {
      run: (params: SqlParams = []) => this.enqueue(async () => {
        const st = await compiled;
        return new Promise<SqlRunResult>((resolve, reject) => {
          st.run(params, function (this: sqlite3.RunResult, err: Error | null) {
            if (err) reject(sqlError(err, sql));
            else resolve({ changes: this.changes, lastId: this.lastID });
          });
        });
      }),
    };
  }

  /**
   * Run `fn` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK when it throws). Use only the `tx`
   * handle inside `fn`: calls on the database itself wait until the transaction ends.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      const tx: SqlExecutor = {
        run: (sql, params = []) => rawRun(this.raw, sql, params),
        get: <R>(sql: string, params: SqlParams = []) => rawGet<R>(this.raw, sql, params),
        all: <R>(sql: string, params: SqlParams = []) => rawAll<R>(this.raw, sql, params),
        exec: (sql) => rawExec(this.raw, sql),
      };
      await rawExec(this.raw, 'BEGIN IMMEDIATE');
      try {
        const value = await fn(tx);
        await rawExec(this.raw, 'COMMIT');
        return value;
      } catch (err) {
        await rawExec(this.raw, 'ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Open statements would keep the connection from closing (SQLITE_BUSY).
    await this.enqueue(() => Promise.all([...this.prepared.values()].map((st) => new Promise<void>((resolve) => st.finalize(() => resolve())))));
    this.prepared.clear();
    await this.enqueue(() => new Promise<void>((resolve, reject) => this.raw.close((err) => (err ? reject(err) : resolve()))));
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => {});
    return next;
  }
}

function rawRun(db: sqlite3.Database, sql: string, params: SqlParams): Promise<SqlRunResult> {
  return new Promise((resolve, reject) => {
    db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
      if (err) reject(sqlError(err, sql));
      else resolve({ changes: this.changes, lastId: this.lastID });
    });
  });
}

function rawGet<T>(db: sqlite3.Database, sql: string, params: SqlParams): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    db.get(sql, params, (err: Error | null, row: T | undefined) => (err ? reject(sqlError(err, sql)) : resolve(row)));
  });
}

function rawAll<T>(db: sqlite3.Database, sql: string, params: SqlParams): Promise<T[]> {
  return new Promise((resolve, reject) => {
    db.all(sql, params, (err: Error | null, rows: T[]) => (err ? reject(sqlError(err, sql)) : resolve(rows)));
  });
}

function rawExec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err: Error | null) => (err ? reject(sqlError(err, sql)) : resolve())));
}

function sqlError(err: Error & { code?: string }, sql: string): Error {
  const e = new Error(`sqlite: ${err.message} (in: ${sql.replace(/\s+/g, ' ').trim().slice(0, 120)})`) as Error & { code?: string };
  e.code = err.code;
  return e;
}

/**
 * Bring `module`'s tables up to date: migration i (0-based) is version i+1; versions already
 * recorded in `schema_migrations` are skipped, each new one runs in its own transaction.
 * Migrations are append-only: never edit one that has shipped. Returns the versions applied.
 */
export async function migrate(db: SqlDatabase, module: string, migrations: readonly string[]): Promise<number[]> {
  await db.transaction((tx) => tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (module, version))`));
  const row = await db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?', [module]);
  const current = row?.v ?? 0;
  if (current > migrations.length) {
    throw new Error(`${db.file} has ${module} schema version ${current}, newer than this program knows (${migrations.length}); refusing to downgrade`);
  }
  const applied: number[] = [];
  for (let version = current + 1; version <= migrations.length; version++) {
    const done = await db.transaction(async (tx) => {
      // Another process sharing the database (a controller replica) may have just applied it.
      if (await tx.get('SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?', [module, version])) return false;
      await tx.exec(migrations[version - 1]!);
      await tx.run('INSERT INTO schema_migrations (module, version, applied_at) VALUES (?, ?, ?)', [module, version, new Date().toISOString()]);
      return true;
    });
    if (done) applied.push(version);
  }
  return applied;
}
