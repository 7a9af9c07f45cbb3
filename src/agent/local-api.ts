// The agent's view of what it enforces, in the same shapes as the controller's REST API so
// `seinectl --local get/describe` work unchanged: the objects this box enforces (its desired
// document) with their realization here, and this node. Served read-only by the agent API
// (api-server.ts); objects change through the controller only.
import type { NodeInfo, StoredObject } from '../api/controller-api.js';
import { parseObjectKey } from '../api/node-state.js';
import { qualifiedKind } from '../api/kinds.js';
import { HttpError } from '../api/http.js';
import { parseResourcePath, type ResourcePath } from '../api/rest-paths.js';
import { computeStatus, nodeRealization } from '../api/policy-status.js';
import type { AgentSync } from './sync/agent-sync.js';

export interface LocalApiContext {
  node: string;
  agentVersion: string;
  /** Undefined when the agent runs without a controller. */
  sync: AgentSync | undefined;
}

export class LocalObjectsView {
  private readonly startedAt = Date.now();

  constructor(private readonly ctx: LocalApiContext) {}

  /** The body for GET `p` (a path without trailing slash); HttpError 404 for what this box does not have. */
  route(p: string): unknown {
    if (p === '/api/v1/nodes') return [this.nodeInfo()];
    const sub = /^(.+)\/nodes$/.exec(p);
    const subject = sub ? parseResourcePath(sub[1]!) : undefined;
    if (subject?.name) {
      const o = this.find(subject)[0];
      if (!o) throw this.notFound(subject);
      return nodeRealization(o.ref, [this.ctx.node], this.reports(), () => this.ctx.sync?.connected ?? false);
    }
    const r = parseResourcePath(p);
    if (!r) throw new HttpError(404, 'NotFound', `no route for GET ${p} (the agent API serves /healthz, /metrics, /flows, /api/v1/nodes and object paths)`);
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
  private toObject(r: ResourcePath, o: ReturnType<LocalObjectsView['find']>[number]): StoredObject {
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
