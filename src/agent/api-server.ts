// The agent's HTTP API: one read-only server with two listeners. The unix socket (0600: root
// on the box, for `seinectl --local`) is always open; a TCP listener is added with apiListen
// (Antrea's agent API port is 10350; bind it to an address only trusted networks reach). Both
// serve the same routes: /healthz, Prometheus /metrics, the box's flows (/flows, the filters of
// `seinectl flows`), the FQDN cache (/fqdncache, Antrea's antctl get fqdncache), and this node and the objects it enforces in the controller's REST shapes
// (/api/v1/nodes, object paths; local-api.ts).
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { splitListen } from '../lib/listen.js';
import { HttpError, sendJson } from '../api/http.js';
import { createLogger } from '../lib/log.js';
import { flowQueryFromParams } from './flows/print.js';
import type { FlowStore } from './flows/store.js';
import { LocalObjectsView, type LocalApiContext } from './local-api.js';
import { patternMatches, type CacheEntry } from './fqdn/cache.js';

const log = createLogger('agent.api');

export interface AgentApiContext extends LocalApiContext {
  /** The registry, or what makes it on the first scrape (the agent loads prom-client then). */
  registry?: Registry | (() => Promise<Registry>);
  /** The box's flow store; undefined with the flow exporter disabled. */
  store?: FlowStore;
  /** The names → addresses the box learned for fqdn rules. */
  fqdnCache?: () => CacheEntry[];
}

/** One row of /fqdncache: Antrea's agent API shape (apis.FQDNCacheResponse). */
export interface FqdnCacheRow {
  fqdnName: string;
  ipAddress: string;
  expirationTime: string;
}

/** What the agent makes after the API opens (attach()). */
export type AgentApiParts = Pick<AgentApiContext, 'registry' | 'store'>;

export class AgentApiServer {
  private readonly server: http.Server;
  private readonly objects: LocalObjectsView;
  private tcp?: net.Server;
  private unix = false;
  private attached: boolean;
  /** http://host:port of the TCP listener ('' without one). */
  url = '';

  constructor(private readonly ctx: AgentApiContext, readonly socketPath: string) {
    this.objects = new LocalObjectsView(ctx);
    this.attached = ctx.registry !== undefined || ctx.store !== undefined;
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Metrics and the flow store, made after the API opened (until then /metrics and /flows answer 503). */
  attach(parts: AgentApiParts): void {
    Object.assign(this.ctx, parts);
    this.attached = true;
  }

  /** Opens the unix socket, and the TCP listener when given `listen` (host:port). */
  async start(listen?: string): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o755 });
    await rm(this.socketPath, { force: true });
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(this.socketPath, () => resolve()));
    } finally {
      process.umask(umask);
    }
    this.unix = true;
    log.info({ socket: this.socketPath }, 'agent API listening on its unix socket');
    if (!listen) return;
    // The second listener hands its connections to the same HTTP server.
    const tcp = net.createServer((socket) => this.server.emit('connection', socket));
    const { host, port } = splitListen(listen);
    try {
      await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, host || undefined, () => resolve()));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.tcp = tcp;
    this.url = `http://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${(tcp.address() as AddressInfo).port}`;
    log.info({ url: this.url }, 'agent API listening');
  }

  async stop(): Promise<void> {
    const tcp = this.tcp;
    this.tcp = undefined;
    // Every connection (either listener's) belongs to the HTTP server: end them first, or the
    // listeners' close would wait for idle keep-alive connections.
    this.server.closeAllConnections();
    if (tcp) await new Promise<void>((r) => tcp.close(() => r()));
    if (!this.unix) return;
    this.unix = false;
    await new Promise<void>((r) => this.server.close(() => r()));
    await rm(this.socketPath, { force: true });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'the agent API is read-only: change objects through the controller');
      const url = new URL(req.url ?? '/', 'http://agent');
      const p = url.pathname.replace(/\/+$/, '') || '/';
      if (p === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if ((p === '/metrics' || p === '/flows') && !this.attached) throw new HttpError(503, 'ServiceUnavailable', 'the agent is still starting');
      if (p === '/metrics') {
        if (!this.ctx.registry) throw new HttpError(404, 'NotFound', 'no metrics on this agent');
        const registry = typeof this.ctx.registry === 'function' ? await this.ctx.registry() : this.ctx.registry;
        return void res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      }
      if (p === '/flows') return sendJson(res, 200, await this.flows(url.searchParams));
      if (p === '/fqdncache') return sendJson(res, 200, this.fqdnCache(url.searchParams));
      sendJson(res, 200, this.objects.route(p));
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', 'internal error (see the agent log)');
      if (!(err instanceof HttpError)) log.error({ err, url: req.url }, 'agent API request failed');
      sendJson(res, e.code, e.toStatus());
    }
  }

  /** `?domain=` filters as antctl's --domain: an exact name or a `*` wildcard, case-insensitive. */
  private fqdnCache(params: URLSearchParams): FqdnCacheRow[] {
    const domain = params.get('domain')?.trim().toLowerCase();
    const entries = this.ctx.fqdnCache?.() ?? [];
    return entries
      .filter((e) => !domain || patternMatches(domain, e.fqdn))
      .map((e) => ({ fqdnName: e.fqdn, ipAddress: e.address, expirationTime: new Date(e.expiresAt).toISOString() }));
  }

  private async flows(params: URLSearchParams): Promise<unknown> {
    const store = this.ctx.store;
    if (!store) throw new HttpError(404, 'NotFound', 'the flow exporter is disabled on this agent');
    const q = flowQueryFromParams(params);
    for (const k of ['since', 'until', 'limit'] as const) {
      if (q[k] !== undefined && !Number.isFinite(q[k])) throw new HttpError(400, 'BadRequest', `${k}: expected a number`, [{ field: k, message: 'expected a number' }]);
    }
    const rollup = params.get('rollup') ?? undefined;
    if (rollup !== undefined && rollup !== 'minute' && rollup !== 'hour') throw new HttpError(400, 'BadRequest', 'rollup: expected minute or hour', [{ field: 'rollup', message: 'expected minute or hour' }]);
    return rollup ? { rollup: await store.rollup(rollup, q) } : { records: await store.query(q) };
  }
}
