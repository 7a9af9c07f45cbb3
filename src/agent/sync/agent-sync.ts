// The agent's side of the MQTT shadow. Desired state in: the retained `desired` document is
// validated (anything malformed, oversized, for another node or older than what is applied is
// counted, logged and dropped), persisted as the last known good state, and realized through
// the realizer registry. Generations count within one controller store (the document's
// storeId): a document from a new store starts a new epoch and is taken whatever its
// generation (a wiped store starts again at 1); one from a store followed before is stale.
// Reported state out: per-object realization, errors, version, uptime — through the on-disk
// outbox, so it survives broker outages. Presence: an `online` status on connect and a last
// will saying `offline`; nothing the agent sends is retained (the broker keeps no node state),
// so whenever a desired document arrives — a controller that (re)connected publishes them all —
// the agent says `online` again, and on a replay also sends its report again. Requests on the node's rpc topics go to the handler registry
// (rpc-handlers.ts). At start the persisted desired state is realized before any connection is
// tried (offline first).
import type { WireGuardIdentity } from '../../api/wireguard.js';
import type { IPublishPacket, MqttClient } from 'mqtt';
import {
  DEFAULT_MAX_MESSAGE_BYTES, ENVELOPE_VERSION, RpcPingParamsSchema, RpcStatusParamsSchema, agentClientId, intakeNodeMessage, nodeRpcFilter, nodeTopic,
  type EventEnvelope, type FlowsEnvelope, type ReportedEnvelope, type RpcStatusResult, type StatusEnvelope,
} from '../../api/mqtt.js';
import { DesiredObjectsMemo, type NodeDesired, type NodeError, type NodeReported, type RealizedObject } from '../../api/node-state.js';
import type { NodePolicyStats } from '../../api/policy-stats.js';
import type { UpdateStatus } from '../../api/release.js';
import type { NodeLatencyReport } from '../../api/node-config.js';
import type { FlowRecord } from '../../api/flow-record.js';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { disableNagle } from '../../lib/mqtt-nodelay.js';
import { phaseRecorder, type PhaseSpan } from '../../lib/phases.js';
import { connectMqtt } from '../../lib/mqtt-connect.js';
import { holdWrites } from '../../lib/mqtt-cork.js';
import type { Database } from '../../lib/sqlite.js';
import { DesiredStore } from './desired-store.js';
import { StrictClock } from '../../lib/strict-clock.js';
import { Outbox } from './outbox.js';
import type { RealizerRegistry } from './realizers.js';
import { RpcHandlers, type RpcRequestProperties } from './rpc-handlers.js';
import { migrateSync } from './schema.js';

const log = createLogger('agent.sync');
/** A desired document's way through the agent: intake → persist → realizers → report out (docs/agent.md, Speed). */
const desiredPhases = phaseRecorder('agent.desired');

export type DesiredRejectReason = 'oversized' | 'wrongTopic' | 'malformed' | 'otherNode' | 'stale' | 'conflicting';

export interface AgentSyncOptions {
  node: string;
  /** The box's WireGuard key and port, in every report (trafficEncryptionMode wireGuard). */
  wireGuard?: WireGuardIdentity;
  url: string;
  username: string;
  /** Absent when the node logs in with its certificate. */
  password?: string;
  /** mqtts://: the CA that signed the broker's certificate (default: the system's) and the node's certificate. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  db: Database;
  realizers: RealizerRegistry;
  agentVersion: string;
  outboxLimit?: number;
  /** Bound of the outbox's payload bytes (DEFAULT_OUTBOX_BYTES). */
  outboxBytes?: number;
  maxMessageBytes?: number;
  /** The pods this box runs and the namespace labels it sees, for the report (the controller's span computation needs them). */
  inventory?: () => NodeReported['inventory'];
  backoff?: Backoff;
  /** Max errors kept in the report. */
  maxErrors?: number;
  /**
   * MQTT protocol version: 4 (3.1.1, what the embedded aedes broker speaks) or 5 (mosquitto,
   * EMQX: request/response properties, a session that outlives the connection by sessionExpiry).
   */
  protocolVersion?: 4 | 5;
}

/** How long an MQTT 5 broker keeps the agent's session (subscriptions, queued QoS 1) while it is away. */
const SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;
/**
 * At most this long a desired document's PUBACK waits to go out with the document's report (one
 * socket write for both); a realization that takes longer lets it go alone.
 */
const ACK_WITH_REPORT_MS = 250;

export class AgentSync {
  readonly rejected: Record<DesiredRejectReason, number> = { oversized: 0, wrongTopic: 0, malformed: 0, otherNode: 0, stale: 0, conflicting: 0 };
  /** Desired documents realized (from the broker or from disk). */
  realizedCount = 0;
  private client?: MqttClient;
  private desired?: NodeDesired;
  private realized: Record<string, RealizedObject> = {};
  private observedGeneration = 0;
  private readonly errors: NodeError[] = [];
  private readonly startedAt = Date.now();
  private readonly backoff: Backoff;
  private reconnectTimer?: NodeJS.Timeout;
  private stopping = false;
  private readonly stopHooks: (() => void)[] = [];
  private flushing?: Promise<void>;
  private flushAgain = false;
  /** Documents waiting for the realizer; only the newest matters. */
  private nextDesired?: NodeDesired;
  private realizing?: Promise<void>;
  private readonly listeners = new Set<(generation: number) => void>();
  private policyStats?: NodePolicyStats[];
  private reportedInventory = '';
  private updateStatus?: UpdateStatus;
  private nodeLatency?: NodeLatencyReport;
  private readonly desiredListeners = new Set<(desired: NodeDesired) => void>();
  /** Request/response methods this agent answers; modules register theirs (Traceflow later). */
  readonly rpc: RpcHandlers;
  /** Envelope times of status and reports: the controller orders them by it, so no two are equal. */
  private readonly clock = new StrictClock();
  /** The last valid document's objects: a document re-checks against their kinds only the objects that changed. */
  private readonly desiredMemo = new DesiredObjectsMemo();

  private constructor(
    private readonly opts: AgentSyncOptions,
    private readonly desiredStore: DesiredStore,
    readonly outbox: Outbox,
    /** Stores followed before the current one (persisted). */
    private readonly retiredStores: Set<string>,
  ) {
    this.backoff = opts.backoff ?? new Backoff({ initialMs: 200, maxMs: 15_000 });
    this.rpc = new RpcHandlers(opts.node);
    this.rpc.register('ping', { params: RpcPingParamsSchema, handle: async () => ({ pong: true as const, ts: Date.now() }) });
    this.rpc.register('status', { params: RpcStatusParamsSchema, handle: async () => this.statusResult() });
  }

  /** The desired document being enforced (from the broker or from disk), if any. */
  get desiredDocument(): NodeDesired | undefined {
    return this.desired;
  }

  /** What the agent realized of it, per object. */
  get realizedObjects(): Readonly<Record<string, RealizedObject>> {
    return this.realized;
  }

  statusResult(): RpcStatusResult {
    return {
      node: this.opts.node,
      ...(this.desired?.storeId !== undefined ? { storeId: this.desired.storeId } : {}),
      observedGeneration: this.observedGeneration,
      objects: this.realized,
      connected: this.connected,
      agentVersion: this.opts.agentVersion,
      uptimeSeconds: this.uptime(),
    };
  }

  static async open(opts: AgentSyncOptions): Promise<AgentSync> {
    await migrateSync(opts.db);
    const desiredStore = new DesiredStore(opts.db);
    return new AgentSync(opts, desiredStore, await Outbox.open(opts.db, opts.outboxLimit ?? 10_000, opts.outboxBytes), await desiredStore.retiredStores());
  }

  get generation(): number {
    return this.observedGeneration;
  }

  /** The controller store the realized generation belongs to. */
  get storeId(): string | undefined {
    return this.desired?.storeId;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get rejectedTotal(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  /** Called after each realized desired document, with its generation. */
  onRealized(listener: (generation: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after each realized desired document with the whole document (the updater reads its release target). */
  onDesired(listener: (desired: NodeDesired) => void): () => void {
    this.desiredListeners.add(listener);
    return () => this.desiredListeners.delete(listener);
  }

  /** The updater's state; goes out with a new report. */
  async reportUpdate(status: UpdateStatus): Promise<void> {
    this.updateStatus = status;
    await this.enqueueReport();
  }

  /** The latency monitor's stats (undefined: no monitor); goes out with a new report. */
  async reportLatency(report: NodeLatencyReport | undefined): Promise<void> {
    if (JSON.stringify(report) === JSON.stringify(this.nodeLatency)) return;
    this.nodeLatency = report;
    await this.enqueueReport();
  }

  /** Resolves once the outbox is sent (or the connection is down). */
  async flushed(): Promise<void> {
    await this.flush();
  }

  /**
   * Connects again with new TLS material (a renewed node certificate). The old connection ends
   * with a DISCONNECT, so its last will is not sent; the session (clean: false) carries over.
   */
  async reconnectWithTls(tls: NonNullable<AgentSyncOptions['tls']>): Promise<void> {
    this.opts.tls = tls;
    const old = this.client;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (old) {
      old.removeAllListeners('close');
      const ended = old.endAsync(false).catch(() => undefined);
      // A broker that does not answer must not hold the swap: then the socket just goes.
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]);
      if (!old.disconnected) await old.endAsync(true).catch(() => undefined);
    }
    if (!this.stopping) this.connect();
    log.info('reconnecting with a renewed certificate');
  }

  /** Realizes the persisted state first (offline first), then connects; never waits for the broker. */
  async start(): Promise<void> {
    const persisted = await this.desiredStore.load();
    if (persisted) {
      log.info({ generation: persisted.generation, objects: Object.keys(persisted.objects).length }, 'realizing the persisted desired state');
      await this.realize(persisted);
    }
    this.connect();
  }

  /** Runs at stop (the certificate renewal timer of a box that enrolled). */
  onStop(fn: () => void): void {
    this.stopHooks.push(fn);
  }

  /** The TLS material of the current connection (node-scoped downloads use the same certificate). */
  get tls(): AgentSyncOptions['tls'] {
    return this.opts.tls;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const fn of this.stopHooks) fn();
    clearTimeout(this.reconnectTimer);
    await this.realizing;
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      // A clean stop says offline itself; the last will covers crashes.
      await client.publishAsync(nodeTopic(this.opts.node, 'status'), JSON.stringify(this.status('offline')), { qos: 1 }).catch(() => undefined);
    }
    await client.endAsync(true).catch(() => undefined);
  }

  /**
   * Handles one received message; exposed so tests can drive the matrix without a broker. Never
   * throws. `release`: lets go of the held PUBACK (holdWrites) once the report is written, or at the end.
   */
  async handleMessage(topic: string, payload: Buffer, props: RpcRequestProperties = {}, release?: () => void): Promise<void> {
    try {
      const intake = intakeNodeMessage(topic, payload, this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, { desiredMemo: this.desiredMemo });
      if ('message' in intake && intake.message.channel === 'rpc' && intake.message.node === this.opts.node) {
        // Over MQTT 3.1.1 our own responses come back on the same topic: only requests count.
        if (intake.message.envelope.kind === 'rpc-request') await this.answer(topic, intake.message.envelope, props);
        return;
      }
      const span = desiredPhases.begin();
      const desired = this.acceptDesired(topic, intake);
      span.mark('intake');
      if (desired) await this.realize(desired, span, release);
      release?.();
      if ('message' in intake && intake.message.channel === 'desired' && intake.message.node === this.opts.node) await this.desiredArrived(desired !== undefined);
    } catch (err) {
      log.error({ err, topic }, 'handling a message failed');
    } finally {
      release?.();
    }
  }

  /**
   * A desired document came in: the controller may have just (re)started and knows nothing of
   * this box (no retained status or report to read). A new document was realized and its report
   * is on its way, which tells the controller the box is up (a report counts as presence). A
   * replay of what runs (what a restarted controller sends) realizes nothing and sends no report
   * by itself: say online and send the last report again. (A status per document would double
   * what a fleet-wide change brings the controller.)
   */
  private async desiredArrived(realized: boolean): Promise<void> {
    if (realized) return;
    const client = this.client;
    if (client?.connected) await this.sayOnline(client).catch((err) => log.debug({ err: errorMessage(err) }, 'status not sent'));
    await this.enqueueReport();
  }

  private sayOnline(client: MqttClient): Promise<unknown> {
    return client.publishAsync(nodeTopic(this.opts.node, 'status'), JSON.stringify(this.status('online')), { qos: 1 });
  }

  private async answer(topic: string, request: Parameters<RpcHandlers['handle']>[1], props: RpcRequestProperties): Promise<void> {
    const reply = await this.rpc.handle(topic, request, props);
    const client = this.client;
    if (!reply || !client?.connected) return; // an answer nobody waits for any more is not queued
    await client.publishAsync(reply.topic, JSON.stringify(reply.envelope), {
      qos: 1,
      ...(reply.correlationData ? { properties: { correlationData: reply.correlationData } } : {}),
    });
  }

  private connect(): void {
    const { node } = this.opts;
    const v5 = this.opts.protocolVersion === 5;
    const client = connectMqtt(this.opts.url, {
      protocolVersion: v5 ? 5 : 4,
      ...(v5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS } } : {}),
      clientId: agentClientId(node),
      username: this.opts.username,
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      ...(this.opts.tls ? { ...this.opts.tls, rejectUnauthorized: true } : {}),
      clean: false, // the broker keeps our subscription and queued QoS 1 messages while we are away
      reconnectPeriod: 0, // reconnects are ours, with backoff and jitter
      connectTimeout: 10_000,
      // mqtt-packet's default pre-builds 65,536 two-byte Buffers (6 MB of heap, measured in the
      // agent's heap snapshot) to write packet ids and lengths; a box sends a few packets a second.
      writeCache: false,
      // MQTT.js logs a dozen debug lines per packet; unless DEBUG asks for them, a no-op spares
      // the box the debug module's enabled check on each (~1.5% of a box's CPU per document).
      ...(process.env.DEBUG ? {} : { log: () => {} }),
      will: { topic: nodeTopic(node, 'status'), payload: Buffer.from(JSON.stringify(this.status('offline'))), qos: 1, retain: false },
    });
    this.client = client;
    disableNagle(client);
    client.on('connect', (connack) => {
      this.backoff.reset();
      log.info({ url: this.opts.url, sessionPresent: connack.sessionPresent }, 'connected to the controller broker');
      void this.onConnected(client);
    });
    const desiredTopic = nodeTopic(node, 'desired');
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      const p = packet.properties;
      // MQTT.js writes the PUBACK right after this event: held, it leaves with the report. Only
      // when nothing else is on its way (a document being realized or a flush waits for
      // PUBACKs, and would wait for the hold): then the hold lets go of no one's writes but its own.
      const idle = !this.realizing && !this.flushing && !this.nextDesired;
      const release = topic === desiredTopic && packet.qos > 0 && idle ? holdWrites(client, ACK_WITH_REPORT_MS) : undefined;
      void this.handleMessage(topic, payload, { ...(p?.responseTopic ? { responseTopic: p.responseTopic } : {}), ...(p?.correlationData ? { correlationData: p.correlationData } : {}) }, release);
    });
    client.on('error', (err) => log.warn({ err: err.message }, 'MQTT error'));
    client.on('close', () => this.scheduleReconnect(client));
  }

  private scheduleReconnect(client: MqttClient): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.backoff.next();
    log.debug({ delayMs: delay }, 'broker connection closed; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) client.reconnect();
    }, delay);
  }

  private async onConnected(client: MqttClient): Promise<void> {
    try {
      await this.sayOnline(client);
      await client.subscribeAsync(nodeTopic(this.opts.node, 'desired'), { qos: 1 });
      // noLocal (MQTT 5): our own responses on the request topic do not come back.
      await client.subscribeAsync(nodeRpcFilter(this.opts.node), { qos: 1, ...(this.opts.protocolVersion === 5 ? { nl: true } : {}) });
      // A full resync: the controller's retained desired document arrives on subscribe; the last report goes out again.
      await this.enqueueReport();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'after connect');
    }
  }

  private reject(reason: DesiredRejectReason, topic: string, detail: string): undefined {
    this.rejected[reason]++;
    log.warn({ topic, reason, detail: detail.slice(0, 500) }, 'desired message rejected');
    this.noteError(`rejected a desired message (${reason}): ${detail.split('\n')[0]!.slice(0, 200)}`);
    return undefined;
  }

  private acceptDesired(topic: string, intake: ReturnType<typeof intakeNodeMessage>): NodeDesired | undefined {
    if ('empty' in intake) return undefined; // a retained message cleared: keep what we have
    if ('rejected' in intake) return this.reject(intake.rejected, topic, intake.detail);
    const msg = intake.message;
    if (msg.node !== this.opts.node) return this.reject('otherNode', topic, `this is ${this.opts.node}`);
    if (msg.channel !== 'desired') return this.reject('wrongTopic', topic, `the agent takes only desired state here, got ${msg.channel}`);
    const desired = msg.envelope.payload;
    if (desired.node !== this.opts.node) return this.reject('otherNode', topic, `document for ${desired.node}`);
    const current = this.nextDesired ?? this.desired;
    if (current && desired.storeId !== current.storeId) {
      if (desired.storeId !== undefined && this.retiredStores.has(desired.storeId)) {
        return this.reject('stale', topic, `controller store ${desired.storeId} was replaced by ${current.storeId ?? '(none)'}`);
      }
      log.info({ from: current.storeId, to: desired.storeId, generation: desired.generation }, 'a new controller store: new epoch, full resync');
      return desired;
    }
    if (current && desired.generation < current.generation) return this.reject('stale', topic, `generation ${desired.generation} < ${current.generation} already applied`);
    if (current && desired.generation === current.generation) {
      if (JSON.stringify(desired.objects) === JSON.stringify(current.objects)) return undefined; // a replay of what we run
      return this.reject('conflicting', topic, `generation ${desired.generation} with different content`);
    }
    return desired;
  }

  /** Persists, then realizes; overlapping calls collapse to the newest document. `written`: called once the report is handed to the connection. */
  private async realize(desired: NodeDesired, span = desiredPhases.begin(), written?: () => void): Promise<void> {
    this.nextDesired = desired;
    while (this.realizing) await this.realizing;
    span.mark('queued');
    if (this.nextDesired !== desired) return; // a newer one came in meanwhile and is handled by its own call
    this.nextDesired = undefined;
    this.realizing = (async () => {
      const t0 = performance.now();
      // One statement when the store knows the saved row's store (after load() or a save).
      await this.desiredStore.save(desired);
      span.mark('persist');
      const saved = performance.now();
      const prevStore = this.desired?.storeId;
      if (prevStore !== undefined && prevStore !== desired.storeId) this.retiredStores.add(prevStore);
      this.desired = desired;
      this.realized = await this.opts.realizers.realizeAll(desired.objects);
      span.mark('realize');
      const realizedAt = performance.now();
      this.observedGeneration = desired.generation;
      this.realizedCount++;
      const failed = Object.values(this.realized).filter((o) => o.phase === 'Failed').length;
      await this.enqueueReport(span, written);
      span.note({ generation: desired.generation });
      span.end();
      // Where a round's time goes on the box: persisting, the realizers (flows), the report out.
      const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
      log.info({ generation: desired.generation, objects: Object.keys(desired.objects).length, failed, persistMs: ms(t0, saved), realizeMs: ms(saved, realizedAt), reportMs: ms(realizedAt, performance.now()) }, 'desired state realized');
      for (const l of this.listeners) l(desired.generation);
      for (const l of this.desiredListeners) l(desired);
    })().finally(() => (this.realizing = undefined));
    await this.realizing;
  }

  /** Called when the box's pods or namespaces may have changed: a changed inventory goes out with a new report. */
  async inventoryChanged(): Promise<void> {
    if (JSON.stringify(this.opts.inventory?.() ?? {}) === this.reportedInventory) return;
    await this.enqueueReport();
  }

  /** Takes the node's current per-rule counters; a changed set goes out with a new report. */
  async reportStats(stats: NodePolicyStats[]): Promise<void> {
    if (this.policyStats && JSON.stringify(stats) === JSON.stringify(this.policyStats)) return;
    this.policyStats = stats;
    await this.enqueueReport();
  }

  private noteError(message: string, object?: string): void {
    this.errors.push({ ts: Date.now(), message, module: 'sync', ...(object ? { object } : {}) });
    this.errors.splice(0, Math.max(0, this.errors.length - (this.opts.maxErrors ?? 20)));
  }

  private status(state: 'online' | 'offline'): StatusEnvelope {
    return {
      v: ENVELOPE_VERSION, node: this.opts.node, ts: this.clock.next(), kind: 'status',
      payload: { state, agentVersion: this.opts.agentVersion, uptimeSeconds: this.uptime() },
    };
  }

  private uptime(): number {
    return Math.round((Date.now() - this.startedAt) / 100) / 10;
  }

  /**
   * `span`: the desired document's, when the report is its outcome (phases `outbox`, then `send`
   * until the broker's PUBACK). `written`: called once the report is handed to the connection.
   */
  private async enqueueReport(span?: PhaseSpan, written?: () => void): Promise<void> {
    const errors = [...this.errors];
    if (this.outbox.dropped > 0) errors.push({ ts: Date.now(), module: 'sync', message: `outbox bound hit: ${this.outbox.dropped} messages dropped` });
    const payload: NodeReported = {
      node: this.opts.node,
      observedGeneration: this.observedGeneration,
      ...(this.desired?.storeId !== undefined ? { storeId: this.desired.storeId } : {}),
      objects: this.realized,
      errors,
      inventory: this.opts.inventory?.() ?? { pods: [] },
      agentVersion: this.opts.agentVersion,
      uptimeSeconds: this.uptime(),
      ...(this.policyStats ? { policyStats: this.policyStats } : {}),
      ...(this.updateStatus ? { update: this.updateStatus } : {}),
      ...(this.nodeLatency ? { nodeLatency: this.nodeLatency } : {}),
      ...(this.opts.wireGuard ? { wireGuard: this.opts.wireGuard } : {}),
    };
    this.reportedInventory = JSON.stringify(payload.inventory);
    const envelope: ReportedEnvelope = { v: ENVELOPE_VERSION, node: this.opts.node, generation: this.observedGeneration, ts: this.clock.next(), kind: 'reported', payload };
    await this.outbox.add(nodeTopic(this.opts.node, 'reported'), JSON.stringify(envelope), true);
    span?.mark('outbox');
    const sent = this.flush();
    // The flush writes the report within this turn of the loop (the outbox is in memory); written() lets the writes go at its end.
    written?.();
    await sent;
    span?.mark('send');
  }

  /** Queues an event for the controller (kept across outages by the outbox) and sends it now if connected. */
  async publishEvent(payload: EventEnvelope['payload']): Promise<void> {
    const envelope: EventEnvelope = { v: ENVELOPE_VERSION, node: this.opts.node, ts: Date.now(), kind: 'event', payload };
    await this.outbox.add(nodeTopic(this.opts.node, 'events'), JSON.stringify(envelope), false);
    await this.flush();
  }

  /**
   * Queues flow records for the controller's fleet flow store (through the outbox, so they
   * survive outages up to its bound), in messages of at most `perMessage` records.
   */
  async publishFlows(records: readonly FlowRecord[], perMessage = 200): Promise<void> {
    for (let i = 0; i < records.length; i += perMessage) {
      const envelope: FlowsEnvelope = { v: ENVELOPE_VERSION, node: this.opts.node, ts: Date.now(), kind: 'flows', payload: { records: records.slice(i, i + perMessage), dropped: 0 } };
      await this.outbox.add(nodeTopic(this.opts.node, 'flows'), JSON.stringify(envelope), false);
    }
    if (records.length) await this.flush();
  }

  /** Sends what the outbox holds, oldest first, deleting each after the broker's PUBACK. */
  private flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.flushAgain = false;
        const client = this.client;
        if (!client?.connected) return;
        for (const m of await this.outbox.peek()) {
          if (!client.connected) return;
          // Never retained: the outbox's retain marks a state that supersedes its predecessor in the queue only.
          await client.publishAsync(m.topic, m.payload, { qos: 1 });
          await this.outbox.remove(m.id);
        }
      } while (this.flushAgain || (await this.outbox.size()) > 0);
    })()
      .catch((err) => log.warn({ err: errorMessage(err) }, 'outbox flush interrupted; it resumes on reconnect'))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }
}
