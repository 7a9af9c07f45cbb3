// The agent's local API: read-only HTTP on a unix socket (0600: root on the box), in the same
// shapes as the controller's REST API so `seinectl --local get/describe` work unchanged — the
// objects this box enforces (its desired document) with their realization here, and this node.
// Writes are refused: objects change through the controller only.
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { NodeInfo, StoredObject } from '../api/controller-api.js';
import { parseObjectKey } from '../api/node-state.js';
import { qualifiedKind } from '../api/kinds.js';
import { HttpError, sendJson } from '../controller/rest/http.js';
import { parseResourcePath, type ResourcePath } from '../controller/rest/paths.js';
import { computeStatus, nodeRealization } from '../controller/status.js';
import { createLogger } from '../lib/log.js';
import type { AgentSync } from './sync/agent-sync.js';

const log = createLogger('agent.local-api');

export interface LocalApiContext {
  node: string;
  agentVersion: string;
  /** Undefined when the agent runs without a controller. */
  sync: AgentSync | undefined;
}

export class LocalApi {
  private server?: http.Server;
  private readonly startedAt = Date.now();

  constructor(private readonly ctx: LocalApiContext, readonly socketPath: string) {}

  async start(): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o755 });
    await rm(this.socketPath, { force: true });
    const server = http.createServer((req, res) => this.handle(req, res));
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.socketPath, () => resolve()));
    } finally {
      process.umask(umask);
    }
    this.server = server;
    log.info({ socket: this.socketPath }, 'local API listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'the agent\'s local API is read-only: change objects through the controller');
      const p = new URL(req.url ?? '/', 'http://agent').pathname.replace(/\/+$/, '') || '/';
      sendJson(res, 200, this.route(p));
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', 'internal error (see the agent log)');
      if (!(err instanceof HttpError)) log.error({ err, url: req.url }, 'local API request failed');
      sendJson(res, e.code, e.toStatus());
    }
  }

  private route(p: string): unknown {
    if (p === '/healthz') return { status: 'ok' };
    if (p === '/api/v1/nodes') return [this.nodeInfo()];
    const sub = /^(.+)\/nodes$/.exec(p);
    const subject = sub ? parseResourcePath(sub[1]!) : undefined;
    if (subject?.name) {
      const o = this.find(subject)[0];
      if (!o) throw this.notFound(subject);
      return nodeRealization(o.ref, [this.ctx.node], this.reports(), () => this.ctx.sync?.connected ?? false);
    }
    const r = parseResourcePath(p);
    if (!r) throw new HttpError(404, 'NotFound', `no route for GET ${p} (the local API serves /api/v1/nodes and object paths)`);
    const items = this.find(r).map((o) => this.toObject(r, o));
    if (r.name) {
      if (!items[0]) throw this.notFound(r);
      return items[0];
    }
    return { apiVersion: r.apiVersion, kind: `${r.kind.kind}List`, metadata: { resourceVersion: String(this.ctx.sync?.generation ?? 0) }, items };
  }

  private notFound(r: ResourcePath): HttpError {
    return new HttpError(404, 'NotFound', `${r.kind.singular} ${r.namespace ? `${r.namespace}/` : ''}${r.name} is not enforced on ${this.ctx.node}`);
  }

  /** The desired objects of the path's kind (and namespace, name). */
  private find(r: ResourcePath) {
    const objects = this.ctx.sync?.desiredDocument?.objects ?? {};
    const out: { ref: { kind: ResourcePath['kind']; namespace?: string; name: string; generation: number }; spec: unknown }[] = [];
    for (const [key, o] of Object.entries(objects)) {
      const ref = parseObjectKey(key);
      if (!ref || qualifiedKind(ref.kind) !== qualifiedKind(r.kind)) continue;
      const namespace = ref.kind.namespaced ? (r.name ? (r.namespace ?? 'default') : r.namespace) : undefined;
      if (namespace !== undefined && ref.namespace !== namespace) continue;
      if (r.name !== undefined && ref.name !== r.name) continue;
      out.push({ ref: { kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, generation: o.generation }, spec: o.spec });
    }
    return out.sort((a, b) => `${a.ref.namespace}/${a.ref.name}`.localeCompare(`${b.ref.namespace}/${b.ref.name}`));
  }

  private reports() {
    return new Map([[this.ctx.node, { objects: this.ctx.sync?.realizedObjects ?? {} }]]);
  }

  /** The object as this box has it: no uid or resourceVersion (the controller's), status for this node only. */
  private toObject(r: ResourcePath, o: ReturnType<LocalApi['find']>[number]): StoredObject {
    return {
      apiVersion: r.apiVersion,
      kind: r.kind.kind,
      metadata: {
        name: o.ref.name, ...(o.ref.namespace ? { namespace: o.ref.namespace } : {}), uid: '', generation: o.ref.generation, resourceVersion: '',
        creationTimestamp: '',
      },
      spec: o.spec,
      status: computeStatus(o.ref, [this.ctx.node], this.reports()),
    };
  }

  private nodeInfo(): NodeInfo {
    const sync = this.ctx.sync;
    const objects = Object.values(sync?.realizedObjects ?? {});
    return {
      name: this.ctx.node,
      online: sync?.connected ?? false,
      agentVersion: this.ctx.agentVersion,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      lastSeen: new Date().toISOString(),
      desiredGeneration: sync?.desiredDocument?.generation ?? 0,
      realizedGeneration: sync ? sync.generation : null,
      objectsRealized: objects.filter((o) => o.phase === 'Realized').length,
      objectsFailed: objects.filter((o) => o.phase === 'Failed').length,
    };
  }
}
