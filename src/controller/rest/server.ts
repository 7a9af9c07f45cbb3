// The REST API: Kubernetes-shaped resource paths over the object store, the node list, node
// credentials, /openapi.json and /healthz. Bodies are manifests (JSON or YAML, one object or a
// List) validated by the shared manifest loader: 400 for what is not a manifest, 422 with
// field paths for invalid objects, and nothing is stored unless every object is valid.
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { AuditQuerySchema, BrokerStateSchema, EventQuerySchema, RpcCallSchema, type ApplyResult, type BrokerState, type NodeRealization, type RpcCallResult, type StoredObject } from '../../api/controller-api.js';
import { qualifiedKind, type KindInfo, type ManifestObject } from '../../api/kinds.js';
import { ManifestError, parseManifests } from '../../api/manifest.js';
import { describeProblem, describeZodError, formatIssues } from '../../api/issues.js';
import { isDNS1123Subdomain } from '../../api/meta.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder } from '../../lib/phases.js';
import { referenceProblems, type ObjectView, type ReferenceProblem } from '../references.js';
import type { PolicyStatus } from '../../api/controller-api.js';
import type { RealizationIndex } from '../realization-index.js';
import type { NodeRegistry } from '../store/nodes.js';
import type { FleetFlows } from '../flows/fleet-flows.js';
import { ConflictError, NotFoundError, refOf, type ObjectStore, type StoredRecord } from '../store/objects.js';
import { authorize, type Access, type TokenSets } from './auth.js';
import { HttpError, parseQuery, readBody, sendJson } from '../../api/http.js';
import { guardBrowserRequest } from './browser-guard.js';
import { buildOpenApi } from './openapi.js';
import { parseResourcePath, parseStatsPath, type ResourcePath } from '../../api/rest-paths.js';
import type { RecentEvents } from '../events.js';
import { policyStatsFor } from '../policy-stats.js';
import { findQualifiedKind } from '../../api/kinds.js';
import { splitListen } from '../../lib/listen.js';
import { RpcError, type RpcClient } from '../sync/rpc-client.js';
import type { TraceflowStatus } from '../../api/traceflow.js';
import type { NodeLatencyStats } from '../../api/node-config.js';
import type { ImpactService } from '../impact/impact.js';
import { impactRoute } from '../impact/routes.js';
import { FleetFlowQuerySchema } from '../../api/flow-record.js';
import { isStaticTier, rejectStaticTierWrites, staticTierObjects, withStaticTiers } from '../static-tiers.js';
import { NPE_API_VERSION, NPE_KIND, NPE_PATH, NetworkPolicyEvaluationSchema, type NetworkPolicyEvaluationResult } from '../../api/policy-evaluation.js';
import { EvalError, PolicyEvaluation } from '../policy-evaluation.js';

const log = createLogger('controller.rest');
/** One request: routed (read, checked, stored or read back), then answered. */
const restPhases = phaseRecorder('controller.rest');
/** One apply: the references across objects checked, then the store's transaction. */
const applyPhases = phaseRecorder('controller.apply');

export interface RestContext {
  store: ObjectStore;
  nodes: NodeRegistry;
  /** Objects' status from per-object counters kept as reports come (not every report per read). */
  realization: RealizationIndex;
  tokens: TokenSets;
  /** Whether POST /api/v1/nodes/<n>/credentials may make node passwords (insecure: true only). */
  passwordCredentials?: boolean;
  version: string;
  events: RecentEvents;
  bodyLimitBytes?: number;
  rpc?: RpcClient;
  /** Impact preview and recommendation (POST /api/v1/impact, /api/v1/recommendation); needs rpc. */
  impact?: ImpactService;
  /** Traceflow status is the controller's own (traceflow/runner.ts), not computed from node reports. */
  traceflowStatus?: (record: StoredRecord) => TraceflowStatus;
  /** The embedded broker's switch; absent with an external broker. */
  broker?: { running: boolean; setRunning(running: boolean, actor: string): Promise<void> };
  /** The fleet flow store (GET /api/v1/flows). */
  flows?: FleetFlows;
  /** Prometheus metrics (GET /metrics, read access). */
  metrics?: Registry;
  /** Controller-decided status fields (Egress egressNode/egressIP/conditions, ExternalIPPool usage), merged over the realization status. */
  extraStatus?: (record: StoredRecord) => Record<string, unknown> | undefined;
  /** Why a node's desired document could not be sent (over the message limit), if so. */
  nodeError?: (node: string) => string | undefined;
  /**
   * Routes that write their own response (binary bodies, byte ranges: releases); each returns
   * false for a path that is not its own. Thrown HttpErrors become Status bodies as usual.
   */
  rawRoutes?: ((req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>)[];
}

export class RestServer {
  private server?: http.Server | https.Server;
  url = '';
  private openapi?: Record<string, unknown>;
  private socketServer?: http.Server;
  /** When the built-in tiers "were created" (Antrea makes them at start-up). */
  private readonly startedAt = new Date().toISOString();
  private readonly evaluation: PolicyEvaluation;

  constructor(private readonly ctx: RestContext) {
    this.evaluation = new PolicyEvaluation(ctx.store, ctx.nodes);
  }

  /**
   * Serves HTTPS when given a certificate (tokens still decide who may do what). With `ca`, a
   * client certificate is asked for, not required: node-scoped endpoints check it (trust/routes.ts).
   */
  async start(listen: string, tls?: { cert: Buffer; key: Buffer; ca?: Buffer }): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    const server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}) }, handler)
      : http.createServer(handler);
    const { host, port } = splitListen(listen);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host || undefined, () => resolve()));
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.url = `${tls ? 'https' : 'http'}://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${addr.port}`;
    log.info({ url: this.url }, 'REST API listening');
  }

  /** Also serves the API (HTTPS when given a certificate, same tokens) on a unix socket: the lab's boxes reach the controller through the shared file system. */
  async listenSocket(socketPath: string, tls?: { cert: Buffer; key: Buffer; ca?: Buffer }): Promise<void> {
    await rm(socketPath, { force: true });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    const server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}) }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, () => resolve()));
    this.socketServer = server;
    log.info({ socketPath }, 'REST API listening on a unix socket');
  }

  async stop(): Promise<void> {
    const socketServer = this.socketServer;
    if (socketServer) {
      socketServer.closeAllConnections();
      await new Promise<void>((resolve) => socketServer.close(() => resolve()));
    }
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = performance.now();
    const span = restPhases.begin({ method: req.method, url: req.url });
    try {
      const url = new URL(req.url ?? '/', 'http://controller');
      guardBrowserRequest(req);
      if (url.pathname === '/metrics' && req.method === 'GET' && this.ctx.metrics) {
        authorize(req, this.ctx.tokens, 'read');
        const text = await this.ctx.metrics.metrics();
        return void res.writeHead(200, { 'content-type': this.ctx.metrics.contentType }).end(text);
      }
      for (const raw of this.ctx.rawRoutes ?? []) if (await raw(req, res, url)) return;
      const body = await this.route(req, url);
      span.mark('route');
      sendJson(res, 200, body);
      span.mark('respond');
      span.end();
    } catch (err) {
      const e = toHttpError(err);
      if (!(err instanceof HttpError) && e.code >= 500) log.error({ err, method: req.method, url: req.url }, 'request failed');
      if (res.headersSent) res.destroy(); // a raw route failed mid-stream
      else {
        // Refused before its body was read (415, 413, 403): this connection cannot serve another request.
        if (!req.complete) res.setHeader('connection', 'close');
        sendJson(res, e.code, e.toStatus());
      }
    } finally {
      log.debug({ method: req.method, url: req.url, status: res.statusCode, ms: Math.round(performance.now() - t0) }, 'request');
    }
  }

  private async route(req: http.IncomingMessage, url: URL): Promise<unknown> {
    const method = req.method ?? 'GET';
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/healthz') return { status: 'ok' };
    if (p === '/openapi.json') return (this.openapi ??= buildOpenApi(this.ctx.version));
    if (p === NPE_PATH) {
      // A question, not a change: a read token may ask it.
      if (method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', `POST a ${NPE_KIND} to ${NPE_PATH}`);
      authorize(req, this.ctx.tokens, 'read');
      return this.evaluate(req);
    }
    const need: Access = method === 'GET' ? 'read' : 'admin';
    const actor = authorize(req, this.ctx.tokens, need);

    if (p === '/api/v1/nodes' && method === 'GET') {
      return (await this.ctx.nodes.list()).map((n) => {
        const error = this.ctx.nodeError?.(n.name);
        return error ? { ...n, desiredError: error } : n;
      });
    }
    const cred = /^\/api\/v1\/nodes\/([^/]+)\/credentials$/.exec(p);
    if (cred && method === 'POST') {
      // Passwords are the insecure path; a secure controller's nodes log in with certificates.
      if (!this.ctx.passwordCredentials) throw new HttpError(403, 'Forbidden', 'node passwords are only for a controller with insecure: true; nodes of a TLS controller log in with a node certificate signed by its CA');
      const node = decodeURIComponent(cred[1]!);
      if (!isDNS1123Subdomain(node)) throw new HttpError(422, 'Invalid', `invalid node name ${JSON.stringify(node)}`, [{ field: 'name', message: 'expected a DNS-1123 subdomain' }]);
      return { username: node, password: await this.ctx.nodes.createCredentials(node, actor) };
    }
    const rpc = /^\/api\/v1\/nodes\/([^/]+)\/rpc$/.exec(p);
    if (rpc && method === 'POST') return this.callNode(decodeURIComponent(rpc[1]!), req, actor);
    const impact = await impactRoute(this.ctx.impact, req, p, this.ctx.bodyLimitBytes ?? 8 << 20);
    if (impact !== undefined) return impact;
    if (p === '/api/v1/apply' && method === 'POST') return this.apply(await this.manifests(req), actor);
    if (p === '/api/v1/delete' && method === 'POST') return this.deleteAll(await this.manifests(req), actor);
    if (p === '/api/v1/broker') return this.brokerState(req, method, actor);
    if (p === '/api/v1/flows' && method === 'GET') {
      if (!this.ctx.flows) throw new HttpError(404, 'NotFound', 'no fleet flow store');
      return { items: await this.ctx.flows.query(parseQuery(FleetFlowQuerySchema, url.searchParams)) };
    }
    if (p === '/api/v1/audit' && method === 'GET') return this.ctx.store.auditLog(parseQuery(AuditQuerySchema, url.searchParams).limit);
    if (p === '/api/v1/events' && method === 'GET') return this.events(url.searchParams);
    const latency = /^\/api\/v1\/nodelatencystats(?:\/([^/]+))?$/.exec(p);
    if (latency) {
      if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'node latency stats are read-only');
      return this.latencyStats(latency[1] === undefined ? undefined : decodeURIComponent(latency[1]));
    }
    const stats = parseStatsPath(p);
    if (stats) {
      if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', 'stats are read-only');
      return this.stats(stats);
    }

    const sub = /^(.+)\/nodes$/.exec(p);
    const subject = sub && method === 'GET' ? parseResourcePath(sub[1]!) : undefined;
    if (subject?.name) return this.realization(subject);
    const r = parseResourcePath(p);
    if (!r) throw new HttpError(404, 'NotFound', `no route for ${method} ${p}`);
    switch (method) {
      case 'GET':
        return r.name ? this.getOne(r) : this.list(r);
      case 'POST':
        if (r.name) throw new HttpError(405, 'MethodNotAllowed', 'POST to the collection; PUT to a named object');
        return this.apply(this.forPath(r, await this.manifests(req)), actor);
      case 'PUT': {
        if (!r.name) throw new HttpError(405, 'MethodNotAllowed', 'PUT needs an object name in the path');
        const objects = this.forPath(r, await this.manifests(req));
        if (objects.length !== 1 || objects[0]!.metadata.name !== r.name) throw new HttpError(400, 'BadRequest', `PUT ${p} takes exactly one object named ${r.name}`);
        return this.apply(objects, actor);
      }
      case 'DELETE': {
        if (!r.name) throw new HttpError(405, 'MethodNotAllowed', 'DELETE needs an object name in the path');
        const ref = { kind: r.kind, namespace: r.kind.namespaced ? (r.namespace ?? 'default') : undefined, name: r.name! };
        await this.checkDeletions([ref]);
        const [deleted] = await this.ctx.store.delete([ref], actor);
        return this.toObject(deleted!);
      }
      default:
        throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  private events(q: URLSearchParams): unknown {
    return { items: this.ctx.events.list(parseQuery(EventQuerySchema, q)) };
  }

  /**
   * Antrea's NodeLatencyStats, one per box that reports latency (a NodeLatencyMonitor exists),
   * from the boxes' reports; a named box without stats is a 404.
   */
  private async latencyStats(node: string | undefined): Promise<unknown> {
    const reports = await this.ctx.nodes.reports();
    const items: NodeLatencyStats[] = [];
    for (const [name, r] of [...reports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (node !== undefined && name !== node) continue;
      if (!r.nodeLatency) continue;
      items.push({ apiVersion: 'stats.antrea.io/v1alpha1', kind: 'NodeLatencyStats', metadata: { name }, peerNodeLatencyStats: r.nodeLatency.peerNodeLatencyStats });
    }
    if (node === undefined) return { apiVersion: 'stats.antrea.io/v1alpha1', kind: 'NodeLatencyStatsList', items };
    if (!items[0]) throw new HttpError(404, 'NotFound', `no latency stats from node ${node} (unknown node, no NodeLatencyMonitor, or no report yet)`);
    return items[0];
  }

  private async stats(r: NonNullable<ReturnType<typeof parseStatsPath>>): Promise<unknown> {
    const policyKind = findQualifiedKind(r.kind.policyKind)!;
    const namespace = r.kind.namespaced ? (r.namespace ?? (r.name ? 'default' : undefined)) : undefined;
    let records = await this.ctx.store.list(policyKind, namespace);
    if (r.name) records = records.filter((rec) => rec.name === r.name);
    if (r.name && !records.length) throw new HttpError(404, 'NotFound', `${r.kind.plural} ${namespace ? `${namespace}/` : ''}${r.name} not found`);
    const items = policyStatsFor(r.kind, records, await this.ctx.nodes.reports());
    return r.name ? items[0] : { apiVersion: items[0]?.apiVersion ?? 'stats.crd.antrea.io/v1alpha1', kind: `${r.kind.kind}List`, items };
  }

  private async manifests(req: http.IncomingMessage): Promise<ManifestObject[]> {
    const text = await readBody(req, this.ctx.bodyLimitBytes ?? 8 << 20);
    if (text.trim() === '') throw new HttpError(400, 'BadRequest', 'empty request body: expected a manifest (JSON or YAML)');
    try {
      const objects = parseManifests(text, 'request');
      if (objects.length === 0) throw new HttpError(400, 'BadRequest', 'the request holds no objects');
      return objects;
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err;
      const syntax = err.problems.some((p) => p.line !== undefined);
      const causes = err.problems.map((p) => ({
        field: p.line !== undefined ? `line ${p.line}` : p.path,
        message: `${p.item === undefined ? `doc ${p.doc}` : `doc ${p.doc} item ${p.item}`} (${p.kind} ${p.name}): ${describeProblem(p)}`,
      }));
      throw syntax
        ? new HttpError(400, 'BadRequest', `request body is not valid JSON or YAML: ${err.message.split('\n')[0]}`, causes)
        : new HttpError(422, 'Invalid', err.message, causes);
    }
  }

  /** NetworkPolicyEvaluation: 422 naming the field for a bad request, 404 naming a pod no node reports. */
  private async evaluate(req: http.IncomingMessage): Promise<NetworkPolicyEvaluationResult> {
    const text = await readBody(req, 64 << 10);
    let json: unknown;
    try {
      json = parseYaml(text);
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `request body is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    const parsed = NetworkPolicyEvaluationSchema.safeParse(json ?? {}, { reportInput: true });
    if (!parsed.success) {
      const problems = formatIssues(parsed.error.issues);
      throw new HttpError(422, 'Invalid', problems.map(describeProblem).join('\n'), problems.map((p) => ({ field: p.path, message: describeProblem(p) })));
    }
    try {
      const response = await this.evaluation.evaluate(parsed.data.request);
      return { apiVersion: NPE_API_VERSION, kind: NPE_KIND, request: (json as { request: unknown }).request, response };
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      const field = `request.${err.path}`;
      const message = `request.${err.message}`;
      throw new HttpError(err.reason === 'NotFound' ? 404 : 422, err.reason === 'NotFound' ? 'NotFound' : 'Invalid', message, [{ field, message }]);
    }
  }

  /** Runs a request/response method on the node: 404 unknown node, 502 the node's error, 504 no answer in time. */
  private async callNode(node: string, req: http.IncomingMessage, actor: string): Promise<RpcCallResult> {
    if (!this.ctx.rpc) throw new HttpError(501, 'NotImplemented', 'request/response is not wired in this controller');
    const text = await readBody(req, this.ctx.bodyLimitBytes ?? 8 << 20);
    let json: unknown;
    try {
      json = text.trim() === '' ? {} : parseYaml(text);
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `request body is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    const call = RpcCallSchema.safeParse(json, { reportInput: true });
    if (!call.success) {
      const problems = formatIssues(call.error.issues);
      throw new HttpError(422, 'Invalid', problems.map(describeProblem).join('\n'), problems.map((p) => ({ field: p.path, message: describeProblem(p) })));
    }
    const { method, params, timeoutMs } = call.data;
    log.info({ actor, node, method }, 'rpc');
    try {
      return { node, method, result: await this.ctx.rpc.request(node, method, params, timeoutMs) };
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      if (err.code === 'UnknownNode') throw new HttpError(404, 'NotFound', err.message);
      if (err.code === 'Timeout') throw new HttpError(504, 'Timeout', err.message);
      throw new HttpError(502, err.code, err.message);
    }
  }

  private async brokerState(req: http.IncomingMessage, method: string, actor: string): Promise<BrokerState> {
    const broker = this.ctx.broker;
    if (!broker) throw new HttpError(404, 'NotFound', 'this controller uses an external broker; only the embedded one is switched here');
    if (method === 'PUT') {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 4096));
      } catch {
        throw new HttpError(400, 'BadRequest', 'request body is not valid JSON: expected {"running": true|false}');
      }
      const parsed = BrokerStateSchema.safeParse(body);
      if (!parsed.success) throw new HttpError(422, 'Invalid', describeZodError(parsed.error), formatIssues(parsed.error.issues).map((i) => ({ field: i.path, message: i.message })));
      await broker.setRunning(parsed.data.running, actor);
    } else if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on /api/v1/broker`);
    return { running: broker.running };
  }

  /** Objects posted to a kind's path must be of that kind (and namespace, when the path has one). */
  private forPath(r: ResourcePath, objects: ManifestObject[]): ManifestObject[] {
    objects.forEach((o, i) => {
      const ref = refOf(o);
      if (qualifiedKind(ref.kind) !== qualifiedKind(r.kind)) throw new HttpError(400, 'BadRequest', `object ${i + 1} is a ${o.kind} (${o.apiVersion}); this path takes ${r.kind.kind} (${r.apiVersion})`);
      const ns = (o.metadata as { namespace?: string }).namespace;
      if (r.namespace !== undefined && ns !== undefined && ns !== r.namespace) throw new HttpError(400, 'BadRequest', `object ${i + 1} is in namespace ${ns}; the path says ${r.namespace}`);
      if (r.namespace !== undefined && ns === undefined) (o.metadata as { namespace?: string }).namespace = r.namespace;
    });
    return objects;
  }

  private async apply(objects: ManifestObject[], actor: string): Promise<ApplyResult> {
    rejectStaticTierWrites(objects.filter((o) => o.kind === 'Tier').map((o) => o.metadata.name ?? ''), 'changed');
    const incoming = objects.map((o) => viewOf(refOf(o).kind, o.metadata.name ?? '', (o.metadata as { namespace?: string }).namespace, (o as { spec?: unknown }).spec));
    const key = (v: ObjectView & { group: string }) => `${v.group}/${v.kind}/${v.namespace ?? ''}/${v.name}`;
    const incomingKeys = new Set(incoming.map(key));
    const span = applyPhases.begin({ objects: objects.length });
    const stored = (await this.ctx.store.list()).map((r) => viewOf(r.kind, r.name, r.namespace, r.spec)).filter((v) => !incomingKeys.has(key(v)));
    rejectReferenceProblems(referenceProblems([...stored, ...incoming], (v) => incomingKeys.has(key(v as ObjectView & { group: string }))));
    span.mark('references');
    const items = await this.ctx.store.apply(objects, actor);
    span.mark('store');
    span.end();
    log.info({ actor, objects: items.map((i) => `${i.record.kind.kind} ${i.record.name} ${i.outcome}`) }, 'applied');
    return {
      items: items.map(({ record, outcome }) => ({
        kind: record.kind.kind, ...(record.namespace ? { namespace: record.namespace } : {}), name: record.name, outcome, generation: record.generation,
      })),
    };
  }

  private async deleteAll(objects: ManifestObject[], actor: string): Promise<unknown> {
    await this.checkDeletions(objects.map(refOf));
    const deleted = await this.ctx.store.delete(objects.map(refOf), actor);
    return { items: deleted.map((d) => ({ kind: d.kind.kind, ...(d.namespace ? { namespace: d.namespace } : {}), name: d.name })) };
  }

  /** A tier that policies still use cannot be deleted (what remains must stay consistent). */
  private async checkDeletions(refs: { kind: KindInfo; namespace?: string; name: string }[]): Promise<void> {
    rejectStaticTierWrites(refs.filter((r) => r.kind.kind === 'Tier').map((r) => r.name), 'deleted');
    const gone = new Set(refs.map((r) => `${qualifiedKind(r.kind)}/${r.namespace ?? ''}/${r.name}`));
    const remaining = (await this.ctx.store.list()).filter((r) => !gone.has(`${qualifiedKind(r.kind)}/${r.namespace ?? ''}/${r.name}`));
    const deletedTiers = refs.filter((r) => r.kind.kind === 'Tier').map((r) => r.name);
    rejectReferenceProblems(referenceProblems(remaining.map((r) => viewOf(r.kind, r.name, r.namespace, r.spec)), () => false, deletedTiers));
  }

  private async getOne(r: ResourcePath): Promise<StoredObject> {
    if (r.kind.kind === 'Tier' && isStaticTier(r.name!)) return staticTierObjects(r.apiVersion, this.startedAt).find((t) => t.metadata.name === r.name)!;
    const ref = { kind: r.kind, namespace: r.kind.namespaced ? (r.namespace ?? 'default') : undefined, name: r.name! };
    const record = await this.ctx.store.get(ref);
    if (!record) throw new NotFoundError(ref);
    return this.toObject(record, await this.ctx.realization.status(record));
  }

  /** `<object>/nodes`: each node of the span, with the generation and phase it reports. */
  private async realization(r: ResourcePath): Promise<NodeRealization[]> {
    if (r.kind.kind === 'Tier' && isStaticTier(r.name!)) return []; // built in: nothing to realize
    const ref = { kind: r.kind, namespace: r.kind.namespaced ? (r.namespace ?? 'default') : undefined, name: r.name! };
    const record = await this.ctx.store.get(ref);
    if (!record) throw new NotFoundError(ref);
    const online = await this.ctx.nodes.onlineNames();
    return this.ctx.realization.realization(record, (n) => online.has(n));
  }

  private async list(r: ResourcePath): Promise<unknown> {
    const [records, revision] = await Promise.all([this.ctx.store.list(r.kind, r.namespace), this.ctx.store.revision()]);
    const statuses = await this.ctx.realization.statuses(records);
    const items = records.map((rec, i) => this.toObject(rec, statuses[i]));
    return { apiVersion: r.apiVersion, kind: `${r.kind.kind}List`, metadata: { resourceVersion: String(revision) }, items: r.kind.kind === 'Tier' ? withStaticTiers(items, r.apiVersion, this.startedAt) : items };
  }

  /** Without a realization status (a deleted object) there is no status, unless the controller keeps its own (Traceflow). */
  private toObject(record: StoredRecord, realization?: PolicyStatus): StoredObject {
    return {
      apiVersion: record.apiVersion,
      kind: record.kind.kind,
      metadata: {
        name: record.name,
        ...(record.namespace ? { namespace: record.namespace } : {}),
        uid: record.uid,
        generation: record.generation,
        resourceVersion: String(record.resourceVersion),
        creationTimestamp: record.createdAt,
        ...(record.labels ? { labels: record.labels } : {}),
        ...(record.annotations ? { annotations: record.annotations } : {}),
      },
      spec: record.spec,
      ...(record.kind.kind === 'Traceflow' && this.ctx.traceflowStatus
        ? { status: this.ctx.traceflowStatus(record) }
        : realization ? { status: { ...realization, ...this.ctx.extraStatus?.(record) } } : {}),
    };
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof NotFoundError) return new HttpError(404, 'NotFound', err.message);
  if (err instanceof ConflictError) return new HttpError(409, 'Conflict', err.message);
  return new HttpError(500, 'InternalError', 'internal error (see the controller log)');
}

function viewOf(kind: KindInfo, name: string, namespace: string | undefined, spec: unknown): ObjectView & { group: string } {
  return { kind: kind.kind, group: kind.group, name, ...(namespace ? { namespace } : {}), spec };
}

function rejectReferenceProblems(problems: ReferenceProblem[]): void {
  if (!problems.length) return;
  const lines = problems.map((p) => `${p.object}: ${p.field}: ${p.message}`);
  throw new HttpError(422, 'Invalid', lines.join('\n'), problems.map((p) => ({ field: p.field, message: `${p.object}: ${p.message}` })));
}
