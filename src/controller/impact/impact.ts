// Impact preview and recommendation on the controller: asks every box over request/response
// (flows.impact, flows.connections) and merges the answers. Nothing is applied: the change's
// objects travel in the request and the store is only read. The request carries the stored policy
// objects and the change — never per-connection data — and is refused before sending when it
// would not fit the MQTT message limit. A box that is offline, times out or fails is named in
// the answer with the reason, never silently left out.
import {
  IMPACT_RPC, IMPACT_LIST_MAX, POLICY_WORLD_KINDS, connectionKey,
  ConnectionsRpcResultSchema, ImpactNodeResultSchema,
  type ImpactEntry, type ImpactNodeResult, type ImpactResult, type NodesHeard, type RecommendResult, type RecordedConnection,
} from '../../api/impact.js';
import { HttpError } from '../../api/http.js';
import { findKind, qualifiedKind, type ManifestObject } from '../../api/kinds.js';
import { describeZodError } from '../../api/issues.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { recommend } from '../../policy/recommend.js';
import type { RpcClient } from '../sync/rpc-client.js';
import type { NodeRegistry } from '../store/nodes.js';
import type { ObjectStore, StoredRecord } from '../store/objects.js';

const log = createLogger('controller.impact');

export interface ImpactContext {
  store: ObjectStore;
  nodes: NodeRegistry;
  rpc: RpcClient;
  /** The broker's message limit: a request larger than this is refused before it is sent. */
  maxMessageBytes: number;
}

/** A stored object as the manifest it was applied from (what a box's computation takes). */
export function manifestOf(r: StoredRecord): ManifestObject {
  return {
    apiVersion: r.apiVersion, kind: r.kind.kind,
    metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}), ...(r.labels ? { labels: r.labels } : {}) },
    spec: r.spec,
  } as ManifestObject;
}

/** Room left in a message for the envelope around the params (topic, method, deadline). */
const ENVELOPE_ROOM = 1024;

export class ImpactService {
  constructor(private readonly ctx: ImpactContext) {}

  /** The stored policy world, as manifests. */
  async currentObjects(): Promise<ManifestObject[]> {
    return (await this.ctx.store.list()).filter((r) => POLICY_WORLD_KINDS.has(qualifiedKind(r.kind))).map(manifestOf);
  }

  async preview(change: { objects: ManifestObject[]; operation: 'apply' | 'delete'; sinceS: number; timeoutMs: number; limit: number }): Promise<ImpactResult> {
    const foreign = change.objects.find((o) => {
      const info = findKind(o.apiVersion, o.kind);
      return !info || !POLICY_WORLD_KINDS.has(qualifiedKind(info));
    });
    if (foreign) throw new HttpError(422, 'Invalid', `items: ${foreign.kind} ${foreign.metadata.name} is not a policy kind: a preview takes ${[...POLICY_WORLD_KINDS].join(', ')}`, [{ field: 'items', message: 'expected policy kinds only' }]);
    const until = Math.floor(Date.now() / 1000);
    const since = until - change.sinceS;
    const params = {
      current: await this.currentObjects(),
      apply: change.operation === 'apply' ? change.objects : [],
      remove: change.operation === 'delete' ? change.objects : [],
      since, until, limit: change.limit,
    };
    this.checkSize(params);
    const { answers, nodes } = await this.askAll(IMPACT_RPC.impact, params, change.timeoutMs, (r) => ImpactNodeResultSchema.parse(r));
    return { kind: 'ImpactPreview', window: { since, until }, ...mergeImpact(answers, change.limit), nodes };
  }

  async recommend(req: { namespace: string; sinceS: number; kind: 'netpol' | 'acnp'; timeoutMs: number }): Promise<RecommendResult> {
    const until = Math.floor(Date.now() / 1000);
    const since = until - req.sinceS;
    const { answers, nodes } = await this.askAll(IMPACT_RPC.connections, { since, until, allowedOnly: true }, req.timeoutMs, (r) => ConnectionsRpcResultSchema.parse(r));
    const connections = mergeConnections([...answers.values()].map((a) => a.connections));
    const pods = new Map<string, { name: string; labels: Record<string, string> }[]>();
    for (const r of (await this.ctx.nodes.reports()).values()) {
      for (const p of r.inventory.pods) {
        const list = pods.get(p.namespace) ?? [];
        list.push({ name: p.name, labels: p.labels ?? {} });
        pods.set(p.namespace, list);
      }
    }
    const out = recommend({ namespace: req.namespace, kind: req.kind, connections, podsOf: (ns) => pods.get(ns) ?? [] });
    const warnings = [...out.warnings];
    for (const [node, a] of answers) if (a.truncated) warnings.push(`${node} had more connections than one answer carries: its oldest were left out`);
    return { kind: 'Recommendation', namespace: req.namespace, window: { since, until }, connections: connections.length, items: out.items, warnings, nodes };
  }

  /** Asks every registered box (online ones; offline ones are named without asking) in parallel. */
  private async askAll<T>(method: string, params: unknown, timeoutMs: number, parse: (r: unknown) => T): Promise<{ answers: Map<string, T>; nodes: NodesHeard }> {
    const list = (await this.ctx.nodes.list()).filter((n) => !n.disabled);
    const answers = new Map<string, T>();
    const notHeard: NodesHeard['notHeard'] = [];
    await Promise.all(list.map(async (n) => {
      if (!n.online) return void notHeard.push({ node: n.name, reason: `offline (last seen ${n.lastSeen ?? 'never'})` });
      try {
        answers.set(n.name, parse(await this.ctx.rpc.request(n.name, method, params, timeoutMs)));
      } catch (err) {
        const reason = err instanceof Error && 'issues' in err ? `invalid answer: ${describeZodError(err as never)}` : errorMessage(err);
        notHeard.push({ node: n.name, reason });
      }
    }));
    notHeard.sort((a, b) => (a.node < b.node ? -1 : 1));
    if (notHeard.length) log.warn({ method, notHeard }, 'boxes not heard from');
    return { answers, nodes: { answered: [...answers.keys()].sort(), notHeard } };
  }

  private checkSize(params: unknown): void {
    const bytes = Buffer.byteLength(JSON.stringify(params));
    if (bytes + ENVELOPE_ROOM > this.ctx.maxMessageBytes) {
      throw new HttpError(413, 'RequestEntityTooLarge', `the preview request (the stored policy objects plus the change: ${bytes} bytes) exceeds the MQTT message limit of ${this.ctx.maxMessageBytes} bytes (controller maxMessageBytes)`);
    }
  }
}

/** One row per connection (both boxes of an inter-node one list it): latest time, most connections, every box. */
function mergeEntries(lists: Iterable<{ node: string; entries: readonly ImpactEntry[] }>, limit: number): ImpactEntry[] {
  const rows = new Map<string, ImpactEntry>();
  for (const { node, entries } of lists) {
    for (const e of entries) {
      const k = connectionKey(e);
      const prev = rows.get(k);
      if (!prev) rows.set(k, { ...e, nodes: [node] });
      else {
        prev.lastSeen = Math.max(prev.lastSeen, e.lastSeen);
        prev.count = Math.max(prev.count, e.count);
        prev.service ??= e.service;
        prev.nodes = [...prev.nodes!, node].sort();
      }
    }
  }
  return [...rows.values()].sort((a, b) => b.lastSeen - a.lastSeen || (connectionKey(a) < connectionKey(b) ? -1 : 1)).slice(0, limit);
}

export function mergeImpact(answers: ReadonlyMap<string, ImpactNodeResult>, limit = IMPACT_LIST_MAX): Pick<ImpactResult, 'counts' | 'newlyDenied' | 'newlyAllowed' | 'truncated'> {
  const all = [...answers.entries()];
  const sum = (k: keyof ImpactNodeResult['counts']) => all.reduce((n, [, a]) => n + a.counts[k], 0);
  const newlyDenied = mergeEntries(all.map(([node, a]) => ({ node, entries: a.newlyDenied })), limit);
  const newlyAllowed = mergeEntries(all.map(([node, a]) => ({ node, entries: a.newlyAllowed })), limit);
  // A box counts the connections it speaks for; a listed row whose owner did not answer is counted from the list.
  const denied = Math.max(sum('newlyDenied'), newlyDenied.length);
  const allowed = Math.max(sum('newlyAllowed'), newlyAllowed.length);
  const counts = {
    connections: sum('unchangedAllowed') + sum('unchangedDenied') + denied + allowed,
    newlyDenied: denied, newlyAllowed: allowed, unchangedAllowed: sum('unchangedAllowed'), unchangedDenied: sum('unchangedDenied'),
  };
  const truncated = all.some(([, a]) => a.truncated) || denied > newlyDenied.length || allowed > newlyAllowed.length;
  return { counts, newlyDenied, newlyAllowed, truncated };
}

/** The boxes' connection lists as one (an inter-node connection once). */
export function mergeConnections(lists: Iterable<readonly RecordedConnection[]>): RecordedConnection[] {
  const rows = new Map<string, RecordedConnection>();
  for (const list of lists) {
    for (const c of list) {
      const k = connectionKey(c);
      const prev = rows.get(k);
      if (!prev) rows.set(k, { ...c });
      else (prev.lastSeen = Math.max(prev.lastSeen, c.lastSeen)), (prev.count = Math.max(prev.count, c.count));
    }
  }
  return [...rows.values()];
}
