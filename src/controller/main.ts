// The fleet controller: wires the store, the broker (embedded aedes or external), the sync
// modules and the REST API, and owns their lifecycle. Each module has start/stop and gets a
// typed context; nothing here knows what a policy means.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { ControllerConfig } from '../api/config.js';
import { UserError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Database, type SqlDatabase } from '../lib/sqlite.js';
import { EmbeddedBroker } from './broker/embedded.js';
import { splitListen } from '../lib/listen.js';
import { adminToken, writeAdminFile } from './admin-file.js';
import { controllerDataDir, resolvePki, type ControllerPki } from './pki.js';
import { RecentEvents } from './events.js';
import { authEnabled } from './rest/auth.js';
import { RestServer } from './rest/server.js';
import type { Span } from './span.js';
import { PolicySpan } from './policy-span.js';
import { RealizationIndex } from './realization-index.js';
import { NodeConfigSpan } from './node-config-span.js';
import type { NodeReported } from '../api/node-state.js';
import { storeId } from './store/identity.js';
import { NodeRegistry } from './store/nodes.js';
import { ObjectStore } from './store/objects.js';
import { PostgresDatabase } from './store/postgres.js';
import { connectBroker } from './sync/broker-connection.js';
import { DesiredPublisher, spanDocumentBuilder, type DesiredDocumentBuilder } from './sync/desired-publisher.js';
import { ReportReceiver } from './sync/report-receiver.js';
import { RpcClient } from './sync/rpc-client.js';
import { ImpactService } from './impact/impact.js';
import { TraceflowRunner } from './traceflow/runner.js';
import { TraceflowStatusTable } from './traceflow/status-table.js';
import { FleetFlows } from './flows/fleet-flows.js';
import { ControllerMetrics } from './metrics.js';
import { PodLabels } from './flows/pod-labels.js';
import { flowAggregatorExporter, type FlowAggregator } from './flows/aggregator.js';
import { EgressController } from './egress/egress-controller.js';
import { startReleases } from './releases/index.js';
import { NodeTrust } from './store/node-trust.js';
import { NodeRevocation } from './trust/revocation.js';
import { nodeIdentity, trustRoutes } from './trust/routes.js';

const log = createLogger('controller');

export const CONTROLLER_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface ControllerSeams {
  /** Which nodes run an object (default: all). */
  span?: Span;
  /** What goes into a node's desired document (default: the objects in its span, as stored). */
  buildDesired?: DesiredDocumentBuilder;
}

export class Controller {
  private constructor(
    readonly config: ControllerConfig,
    readonly store: ObjectStore,
    readonly nodes: NodeRegistry,
    readonly rest: RestServer,
    readonly publisher: DesiredPublisher,
    readonly reports: ReportReceiver,
    /** Request/response with nodes (MQTT 5 correlation data where the broker speaks it). */
    readonly rpc: RpcClient,
    /** The MQTT URL agents use (the embedded broker's, or the external one). */
    readonly brokerUrl: string,
    private readonly parts: { db: SqlDatabase; client: MqttClient; broker?: EmbeddedBroker; traceflows: TraceflowRunner; aggregator?: FlowAggregator | undefined; releases: { rollouts: { stop(): Promise<void> } }; egress: EgressController; pki: ControllerPki | undefined; adminFile: string | undefined; auditTimer: NodeJS.Timeout },
  ) {}

  get restUrl(): string {
    return this.rest.url;
  }

  get broker(): EmbeddedBroker | undefined {
    return this.parts.broker;
  }

  /** The TLS material served with (undefined with insecure: true); its CA key signs node certificates. */
  get pki(): ControllerPki | undefined {
    return this.parts.pki;
  }

  /** The admin client file written at this start (a secure controller without configured admin tokens). */
  get adminFile(): string | undefined {
    return this.parts.adminFile;
  }

  static async start(cfg: ControllerConfig, seams: ControllerSeams = {}): Promise<Controller> {
    const t0 = Date.now();
    if (cfg.insecure && !authEnabled(cfg.auth) && !isLoopback(splitListen(cfg.listen).host)) {
      throw new UserError(`listen ${cfg.listen}: the REST API needs auth.adminTokens (or readOnlyTokens) when it is not on loopback`);
    }
    if (cfg.broker !== 'embedded' && !cfg.brokerCredentials && !cfg.tls) throw new UserError(`broker ${cfg.broker}: set brokerCredentials (the controller's login on that broker) or tls (its certificate)`);
    if (cfg.sharedSubscriptionGroup && (cfg.broker === 'embedded' || !cfg.storeUrl)) {
      throw new UserError('sharedSubscriptionGroup: controller replicas need an external broker and a shared PostgreSQL store (broker, storeUrl)');
    }
    // TLS unless insecure: the user's PKI (tls) or the one made here on first start.
    const pki = await resolvePki(cfg);
    const tls = pki && { ca: pki.ca, cert: pki.cert, key: pki.key };
    // Without admin tokens in the config a secure controller makes one (its hash is what REST checks).
    const admin = pki && cfg.auth.adminTokens.length === 0 ? await adminToken(controllerDataDir(cfg)) : undefined;
    const tokens = { adminTokens: [...cfg.auth.adminTokens, ...(admin ? [admin.tokenHash] : [])], readOnlyTokens: cfg.auth.readOnlyTokens };
    const db = await openStoreDatabase(cfg);
    const cleanup: (() => Promise<unknown>)[] = [() => db.close()];
    try {
      const store = await ObjectStore.open(db);
      const nodes = await NodeRegistry.open(db, { shared: !!cfg.storeUrl });
      const trust = await NodeTrust.open(db);
      const auditTimer = await startAuditRetention(store, cfg.auditRetention);
      cleanup.push(async () => clearInterval(auditTimer));
      // Nobody is known to be online until the broker sees its session (embedded) or it sends its
      // status. With replicas on a shared store, while one runs it records every box's presence
      // (each replica hears every status, the last wills too): a (re)starting replica leaves it
      // be, and only one starting when none runs (nobody heard the boxes meanwhile) marks all offline.
      if (db instanceof PostgresDatabase) await db.joinReplicas(() => nodes.markAllOffline());
      else await nodes.markAllOffline();

      let broker: EmbeddedBroker | undefined;
      let client: MqttClient;
      let rpcClient: RpcClient | undefined; // made once the broker is up; the broker asks it about rpc answers
      let receiver: ReportReceiver | undefined; // once made, session presence goes through its batches (ordered with reports)
      if (cfg.broker === 'embedded') {
        broker = new EmbeddedBroker({
          listen: cfg.brokerListen,
          socketPath: cfg.brokerSocket,
          verifyNode: (node, password) => nodes.verifyPassword(node, password),
          knownNode: (node) => nodes.exists(node),
          revoked: (serial) => trust.isRevoked(serial),
          maxMessageBytes: cfg.maxMessageBytes,
          loginLimits: cfg.loginFailureLimits,
          rpcKnown: (node, id) => rpcClient?.known(node, id) ?? false,
          onPresence: (node, online) => {
            (receiver ? receiver.presence(node, { online }) : nodes.setPresence(node, { online })).catch((err: unknown) => log.error({ err, node }, 'recording presence failed'));
            log.info({ node, online }, 'node session');
          },
          ...(tls ? { tls } : {}),
        });
        await broker.start();
        cleanup.push(() => broker!.stop());
        client = await connectBroker({ url: broker.url, password: broker.controllerSecret, ...(tls ? { tls: { ca: tls.ca }, skipHostnameCheck: true } : {}) });
      } else {
        // Towards an external broker only the user's own PKI means anything (the broker trusts its CA).
        const own = cfg.tls && tls;
        client = await connectBroker({
          url: cfg.broker, ...(cfg.brokerCredentials ?? {}), ...(own && cfg.broker.startsWith('mqtts:') ? { tls: own } : {}),
          // Replicas need MQTT 5 (shared subscriptions) whatever brokerProtocolVersion says.
          protocolVersion: cfg.sharedSubscriptionGroup ? 5 : cfg.brokerProtocolVersion,
        });
      }
      cleanup.push(() => client.endAsync(true));

      // Policies go to the nodes in their span, computed from what the nodes report. With a
      // shared store another replica may take a node's report: the span then rereads them all.
      const metrics = new ControllerMetrics();
      const policySpan = seams.span ? undefined : new PolicySpan(store, nodes, { shared: !!cfg.storeUrl, observe: metrics.policySynced });
      // NodeConfigs go to the boxes their nodeSelector picks, by the labels the boxes report.
      const nodeConfigSpan = new NodeConfigSpan();
      for (const [node, r] of await nodes.reports()) nodeConfigSpan.noteReport(node, r);
      nodes.onChange((node, what) => what === 'removed' && nodeConfigSpan.forget(node));
      const span = nodeConfigSpan.wrap(seams.span ?? policySpan!.span);
      const events = new RecentEvents();
      let publisher: DesiredPublisher | undefined;
      const podLabels = new PodLabels();
      for (const [node, r] of await nodes.reports()) podLabels.note(node, r);
      const onReport = (node: string, parsed: NodeReported) => {
        // The registry's kept report of the node (the parsed one is now in it): the views below
        // hold its objects, never the parsed report's, so the parsed report dies young.
        const r = nodes.loadedReports()?.get(node) ?? parsed;
        podLabels.note(node, r);
        // Both are asked (no short circuit): each compares the report with what it computed from. A NodeConfig
        // selection that moved rebuilds every document; a policy span change only the nodes it names.
        const [policyMoved, configMoved] = [policySpan?.noteReport(node, r), nodeConfigSpan.noteReport(node, r)];
        if (configMoved) void publisher?.republish();
        else if (policyMoved) void publisher?.republishChanged();
      };
      const aggregator = cfg.flowAggregator && flowAggregatorExporter(cfg.flowAggregator);
      if (aggregator) cleanup.push(() => aggregator.stop());
      const flows = await FleetFlows.open(db, { labels: podLabels.get, ...(cfg.fleetFlows?.maxRows ? { maxRows: cfg.fleetFlows.maxRows } : {}), ...(cfg.fleetFlows?.maxAgeSeconds ? { maxAgeS: cfg.fleetFlows.maxAgeSeconds } : {}), ...(aggregator ? { onJoined: aggregator.take } : {}) });
      const reports = new ReportReceiver({ nodes, client, maxMessageBytes: cfg.maxMessageBytes, shareGroup: cfg.sharedSubscriptionGroup, events, onReport, flows, ...(broker ? { sessionOpen: (n: string) => broker.hasSession(n) } : {}) });
      await reports.start();
      receiver = reports;
      const rpc = new RpcClient({ client, nodes, protocolVersion: broker ? 4 : cfg.sharedSubscriptionGroup ? 5 : cfg.brokerProtocolVersion, maxMessageBytes: cfg.maxMessageBytes });
      rpcClient = rpc;
      await rpc.start();
      cleanup.push(async () => rpc.stop());
      // Egress: IPs and egress nodes decided before each publication; liveness changes move them.
      const egress = await EgressController.open(db, store, nodes);
      cleanup.push(async () => egress.stop());
      // Releases and rollouts: a rollout's target release goes into the nodes' desired documents.
      const releases = await startReleases({ ...cfg, auth: tokens }, db, nodes, () => void publisher?.republish(), events, (req) => nodeIdentity(req, { nodes, trust }));
      cleanup.push(() => releases.rollouts.stop());
      // Status reads count from an index the reports keep; made once publications run (below).
      let realization: RealizationIndex | undefined;
      // A shared store changes under other replicas too: look for such changes every second.
      publisher = new DesiredPublisher({
        store, nodes, client, build: egress.decorate(seams.buildDesired ?? spanDocumentBuilder(span, policySpan && nodeConfigSpan.wrapInSpan((o, n, all) => policySpan.inSpan(o, n, all)))), storeId: await storeId(db), releaseTarget: (n) => releases.rollouts.target(n),
        ...(cfg.storeUrl ? { resyncMs: 1000 } : {}),
        // Replicas' publishes may reach the broker out of order: the retained copy is watched and repaired.
        ...(cfg.sharedSubscriptionGroup ? { repairRetained: true } : {}),
        maxMessageBytes: cfg.maxMessageBytes,
        // A report rebuilds only the nodes whose policies moved, unless Egresses are in play
        // (their decisions go into every node's document).
        prepare: async (objects) => {
          // Objects deleted through another replica leave the status counters here.
          realization?.retainOnly(objects);
          const changed = await policySpan?.refresh(objects);
          const egresses = await egress.refresh(objects);
          return egresses || !changed ? 'all' : changed;
        },
      });
      egress.onMoves(() => void publisher?.republish());
      await publisher.start();
      const traceflows = new TraceflowRunner({ store, nodes, rpc, table: await TraceflowStatusTable.open(db) });
      await traceflows.start();
      cleanup.push(() => traceflows.stop());
      metrics.watch({ nodes, reports, publisher, client, flows, ...(broker ? { broker } : {}), ...(aggregator ? { aggregator } : {}) });
      // Status reads count from an index the reports keep (a 10k fleet is not read per GET).
      realization = await RealizationIndex.open({
        nodes, store, span, ...(seams.span ? {} : { spanVersion: () => policySpan!.version + nodeConfigSpan.version }),
      });
      cleanup.push(async () => realization.close());
      const rest = new RestServer({
        store, nodes, realization, tokens, passwordCredentials: cfg.insecure, version: CONTROLLER_VERSION, rpc, events, flows,
        impact: new ImpactService({ store, nodes, rpc, maxMessageBytes: cfg.maxMessageBytes }), metrics: metrics.registry,
        ...(broker ? { broker: brokerSwitch(broker) } : {}), traceflowStatus: (r) => traceflows.status(r),
        extraStatus: (r) => {
          const e = egress.status(r);
          const d = publisher!.objectStatus(r);
          return e || d ? { ...e, ...d } : undefined;
        },
        nodeError: (n) => publisher!.nodeError(n),
        rawRoutes: [trustRoutes({
          nodes, trust, tokens, validitySeconds: cfg.nodeCertificateValiditySeconds, brokerUrl: broker ? broker.url : cfg.broker,
          ca: pki?.caKeyFile ? { certFile: pki.caFile, keyFile: pki.caKeyFile } : undefined,
          revocation: new NodeRevocation({ nodes, trust, client, broker, republish: () => void publisher?.republish() }),
        }), releases.routes],
      });
      await rest.start(cfg.listen, tls);
      if (cfg.restSocket) await rest.listenSocket(cfg.restSocket, tls);
      const adminFilePath = admin && pki ? await writeAdminFile(controllerDataDir(cfg), admin, rest.url, pki.caFile) : undefined;
      const brokerUrl = broker ? broker.url : cfg.broker;
      if (cfg.insecure) warnInsecure(cfg, rest.url, broker?.url, tokens);
      log.info({ ms: Date.now() - t0, rest: rest.url, broker: brokerUrl, store: db.file, objects: (await store.list()).length, caFingerprint: pki?.caFingerprint, adminFile: adminFilePath }, 'controller ready');
      return new Controller(cfg, store, nodes, rest, publisher, reports, rpc, brokerUrl, { db, client, broker, traceflows, aggregator, releases, egress, pki, adminFile: adminFilePath, auditTimer });
    } catch (err) {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.parts.auditTimer);
    await this.rest.stop();
    await this.parts.traceflows.stop();
    await this.parts.releases.rollouts.stop();
    this.parts.egress.stop();
    await this.publisher.stop();
    this.reports.stop();
    this.rpc.stop();
    await this.reports.idle();
    if (this.reports.backlog) log.warn({ nodes: this.reports.backlog, failures: this.reports.writeFailures }, 'stopped with node reports or presence not written (the store failed): the boxes\' next messages bring them');
    await this.parts.aggregator?.stop();
    await this.parts.client.endAsync(true).catch(() => undefined);
    await this.parts.broker?.stop();
    await this.parts.db.close();
    log.info('controller stopped');
  }
}

/** Audit retention (config auditRetention): pruned now and every hour. */
async function startAuditRetention(store: ObjectStore, retention: ControllerConfig['auditRetention']): Promise<NodeJS.Timeout> {
  const prune = () =>
    store.pruneAudit(retention).then(
      (n) => n > 0 && log.info({ deleted: n, ...retention }, 'audit log pruned'),
      (err: unknown) => log.warn({ err }, 'pruning the audit log failed'),
    );
  await prune();
  const timer = setInterval(() => void prune(), 3_600_000);
  timer.unref();
  return timer;
}

/** The store's database: PostgreSQL when storeUrl is set, else the SQLite file at storePath. */
export async function openStoreDatabase(cfg: ControllerConfig): Promise<SqlDatabase> {
  if (cfg.storeUrl) return PostgresDatabase.open(cfg.storeUrl);
  await mkdir(path.dirname(cfg.storePath), { recursive: true });
  return Database.open(cfg.storePath);
}

/** Stops and starts the embedded broker alone; the controller's client reconnects and republishes by itself. */
function brokerSwitch(broker: EmbeddedBroker) {
  return {
    get running() {
      return broker.running;
    },
    async setRunning(running: boolean, actor: string) {
      if (running === broker.running) return;
      await (running ? broker.start() : broker.stop());
      log.warn({ actor, running }, running ? 'embedded broker started again' : 'embedded broker stopped by request');
    },
  };
}

/** insecure: true is said loudly, at every start, with what it exposes. */
function warnInsecure(cfg: ControllerConfig, rest: string, broker: string | undefined, tokens: { adminTokens: readonly string[]; readOnlyTokens: readonly string[] }): void {
  log.warn({
    rest, broker, restSocket: cfg.restSocket, brokerSocket: cfg.brokerSocket, restOpen: !authEnabled(tokens),
  }, `INSECURE (insecure: true): plain HTTP on ${rest}${broker ? ` and plain MQTT on ${broker}` : ''} — REST tokens, node passwords and every node's desired policy cross the network unencrypted${authEnabled(tokens) ? '' : '; REST has no tokens: anyone on this machine may change the fleet'}. Remove insecure to get TLS.`);
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}
