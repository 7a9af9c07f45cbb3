// OVSDB client (RFC 7047 JSON-RPC) over a unix or tcp socket. The agent configures bridges and
// ports through it instead of ovs-vsctl: one long-lived connection, atomic multi-op
// transactions, and monitors that push Interface/Port changes (e.g. ofport assignment).
// The connection heals itself: on loss, pending requests fail with a clear error, the
// client reconnects with jittered backoff and re-issues its monitors, which then emit the
// rows that changed while it was away.
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { Backoff, type BackoffOptions } from '../../lib/backoff.js';
import { JsonStreamSplitter } from '../../lib/jsonrpc-framing.js';
import { createLogger } from '../../lib/log.js';
import type { OvsdbOperation, OvsdbOperationResult, OvsdbRow, TableUpdates } from './ovsdb-types.js';

const log = createLogger('ovs/ovsdb');

export interface OvsdbClientOptions {
  /** `unix:/path/db.sock`, a bare socket path, or `tcp:host:port`. */
  remote: string;
  database?: string;
  /** Interval of our liveness echo; a connection whose echo stays unanswered that long is dropped. 0 disables. */
  echoIntervalMs?: number;
  /** How long the first connect keeps retrying before giving up. */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  backoff?: BackoffOptions;
}

/** The server answered with an error (a failed operation, a failed commit, or an RPC error). */
export class OvsdbError extends Error {
  constructor(message: string, readonly error: string, readonly details?: string, readonly opIndex?: number) {
    super(message);
    this.name = 'OvsdbError';
  }
}

/** The connection went away before the request was answered; safe to retry after reconnect. */
export class OvsdbDisconnectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OvsdbDisconnectedError';
  }
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

/** Rows of the monitored tables, kept current; emits 'update' (TableUpdates) and 'resync'. */
export class OvsdbMonitor extends EventEmitter {
  readonly rows = new Map<string, Map<string, OvsdbRow>>();

  constructor(readonly id: string, readonly spec: Record<string, { columns?: string[] }>, private readonly client: OvsdbClient, readonly initial: TableUpdates) {
    super();
    this.apply(initial);
  }

  table(name: string): Map<string, OvsdbRow> {
    let t = this.rows.get(name);
    if (!t) this.rows.set(name, (t = new Map()));
    return t;
  }

  /** @internal an 'update' notification */
  apply(updates: TableUpdates): void {
    for (const [table, rows] of Object.entries(updates)) {
      const t = this.table(table);
      for (const [uuid, { new: row }] of Object.entries(rows)) {
        if (row) t.set(uuid, row);
        else t.delete(uuid);
      }
    }
  }

  /** @internal the monitor was re-issued after a reconnect: report what changed meanwhile. */
  resync(current: TableUpdates): void {
    const delta: TableUpdates = {};
    const tables = new Set([...this.rows.keys(), ...Object.keys(current)]);
    for (const table of tables) {
      const before = this.table(table);
      const after = current[table] ?? {};
      const d: TableUpdates[string] = {};
      for (const [uuid, row] of before) if (!after[uuid]) d[uuid] = { old: row };
      for (const [uuid, { new: row }] of Object.entries(after)) {
        const old = before.get(uuid);
        if (!old) d[uuid] = { new: row };
        else if (JSON.stringify(old) !== JSON.stringify(row)) d[uuid] = { old, new: row };
      }
      if (Object.keys(d).length) delta[table] = d;
    }
    this.rows.clear();
    this.apply(current);
    if (Object.keys(delta).length) this.emit('update', delta);
    this.emit('resync');
  }

  cancel(): Promise<void> {
    return this.client.cancelMonitor(this);
  }
}

export class OvsdbClient extends EventEmitter {
  readonly database: string;
  private socket?: net.Socket;
  private readonly splitter = new JsonStreamSplitter();
  private readonly pending = new Map<number, Pending>();
  private readonly monitors = new Map<string, OvsdbMonitor>();
  private readonly backoff: Backoff;
  private nextId = 1;
  private nextMonitor = 1;
  private closing = false;
  private reconnectTimer?: NodeJS.Timeout;
  private echoTimer?: NodeJS.Timeout;
  private echoOutstanding = false;

  private constructor(readonly opts: OvsdbClientOptions) {
    super();
    this.database = opts.database ?? 'Open_vSwitch';
    this.backoff = new Backoff({ initialMs: 50, maxMs: 5000, ...opts.backoff });
  }

  /** Connects, retrying with backoff until connectTimeoutMs (default 10 s). */
  static async connect(opts: OvsdbClientOptions): Promise<OvsdbClient> {
    const client = new OvsdbClient(opts);
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
    for (;;) {
      try {
        client.attach(await client.dial());
        break;
      } catch (err) {
        if (Date.now() >= deadline) throw new Error(`cannot connect to OVSDB at ${opts.remote}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, client.backoff.next()));
      }
    }
    client.backoff.reset();
    client.startEcho();
    return client;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Runs the operations as one transaction; rejects with the first failed operation's error and details. */
  async transact(ops: OvsdbOperation[], opts: { timeoutMs?: number } = {}): Promise<OvsdbOperationResult[]> {
    const results = (await this.request('transact', [this.database, ...ops], opts.timeoutMs)) as (OvsdbOperationResult | null)[];
    results.forEach((r, i) => {
      if (!r?.error) return;
      const detail = `${r.error}${r.details ? `: ${r.details}` : ''}`;
      if (i < ops.length) {
        const op = ops[i];
        const what = 'table' in op ? `${op.op} on ${op.table}` : op.op;
        throw new OvsdbError(`OVSDB transaction failed at operation ${i} (${what}): ${detail}`, r.error, r.details, i);
      }
      throw new OvsdbError(`OVSDB transaction failed to commit: ${detail}`, r.error, r.details);
    });
    return results as OvsdbOperationResult[];
  }

  /** Monitors the tables (all columns unless listed); the monitor holds the rows and emits changes. */
  async monitor(tables: string[], columns: Record<string, string[]> = {}): Promise<OvsdbMonitor> {
    const id = `seine-${this.nextMonitor++}`;
    const spec = Object.fromEntries(tables.map((t) => [t, columns[t] ? { columns: columns[t] } : {}]));
    const initial = (await this.request('monitor', [this.database, id, spec])) as TableUpdates;
    const mon = new OvsdbMonitor(id, spec, this, initial);
    this.monitors.set(id, mon);
    return mon;
  }

  /** @internal */
  async cancelMonitor(mon: OvsdbMonitor): Promise<void> {
    if (!this.monitors.delete(mon.id)) return;
    if (this.connected) await this.request('monitor_cancel', [mon.id]).catch(() => {});
  }

  request(method: string, params: unknown[], timeoutMs = this.opts.requestTimeoutMs ?? 30_000): Promise<unknown> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new OvsdbDisconnectedError(`OVSDB at ${this.opts.remote} is not connected (reconnecting); ${method} not sent`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { method, resolve, reject };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new OvsdbError(`OVSDB ${method} got no reply within ${timeoutMs} ms`, 'timeout'));
        }, timeoutMs);
      }
      this.pending.set(id, p);
      socket.write(JSON.stringify({ id, method, params }));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.echoTimer);
    this.failPending(`OVSDB client for ${this.opts.remote} closed`);
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.end(r));
    this.monitors.clear();
  }

  private dial(): Promise<net.Socket> {
    const remote = this.opts.remote;
    return new Promise((resolve, reject) => {
      const tcp = /^tcp:(.+):(\d+)$/.exec(remote);
      const s = tcp ? net.connect({ host: tcp[1], port: Number(tcp[2]) }) : net.connect(remote.replace(/^unix:/, ''));
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    this.splitter.reset();
    this.echoOutstanding = false;
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      let msgs: Record<string, unknown>[];
      try {
        msgs = this.splitter.push(chunk).map((t) => JSON.parse(t) as Record<string, unknown>);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'unparsable OVSDB message; reconnecting');
        s.destroy(); // garbage on the wire: start over on a fresh connection
        return;
      }
      for (const m of msgs) {
        try {
          this.dispatch(m);
        } catch (err) {
          log.error({ err: (err as Error).message }, 'OVSDB message handler failed'); // e.g. a throwing 'update' listener
        }
      }
    });
    s.on('error', (err) => log.debug({ err: err.message }, 'ovsdb socket error'));
    s.on('close', () => this.lost(s));
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.method === 'string') {
      if (msg.method === 'echo' && msg.id !== null && msg.id !== undefined) {
        this.socket?.write(JSON.stringify({ id: msg.id, result: msg.params ?? [], error: null }));
      } else if (msg.method === 'update') {
        const [id, updates] = msg.params as [string, TableUpdates];
        const mon = this.monitors.get(id);
        if (mon) {
          mon.apply(updates);
          mon.emit('update', updates);
        }
      }
      return;
    }
    const p = this.pending.get(msg.id as number);
    if (!p) return;
    this.pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (msg.error !== null && msg.error !== undefined) {
      const e = msg.error as string | { error?: string; details?: string };
      const error = typeof e === 'string' ? e : e.error ?? JSON.stringify(e);
      const details = typeof e === 'string' ? undefined : e.details;
      p.reject(new OvsdbError(`OVSDB ${p.method} failed: ${error}${details ? `: ${details}` : ''}`, error, details));
    } else p.resolve(msg.result);
  }

  private failPending(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new OvsdbDisconnectedError(`${why}; ${p.method} got no reply`));
    }
  }

  private lost(s: net.Socket): void {
    if (this.socket !== s) return;
    this.socket = undefined;
    if (this.closing) return;
    log.warn({ remote: this.opts.remote }, 'OVSDB connection lost; reconnecting');
    this.failPending(`OVSDB connection to ${this.opts.remote} lost`);
    this.emit('disconnect');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing) return;
    this.reconnectTimer = setTimeout(() => void (async () => {
      let s: net.Socket;
      try {
        s = await this.dial();
      } catch {
        this.scheduleReconnect();
        return;
      }
      if (this.closing) return void s.destroy();
      this.attach(s);
      try {
        for (const mon of this.monitors.values()) {
          mon.resync((await this.request('monitor', [this.database, mon.id, mon.spec])) as TableUpdates);
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 're-issuing OVSDB monitors failed');
        return; // the connection dropped again; its close handler schedules the next attempt
      }
      this.backoff.reset();
      log.info({ remote: this.opts.remote }, 'OVSDB reconnected');
      this.emit('reconnect');
    })().catch((err: Error) => log.error({ err: err.message }, 'OVSDB reconnect failed')), this.backoff.next());
  }

  private startEcho(): void {
    const every = this.opts.echoIntervalMs ?? 5000;
    if (!every) return;
    this.echoTimer = setInterval(() => {
      const s = this.socket;
      if (!s) return;
      if (this.echoOutstanding) {
        log.warn({ remote: this.opts.remote }, 'OVSDB echo unanswered; dropping the connection');
        s.destroy();
        return;
      }
      this.echoOutstanding = true;
      this.request('echo', [], 0).then(
        () => (this.echoOutstanding = false),
        () => {},
      );
    }, every);
    this.echoTimer.unref();
  }
}
