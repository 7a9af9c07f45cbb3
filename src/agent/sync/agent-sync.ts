// The agent's side of the MQTT shadow. Desired state in: the retained `desired` document is
// validated (anything malformed, oversized, for another node or older than what is applied is
// counted, logged and dropped), persisted as the last known good state, and realized through
// the realizer registry. Reported state out: per-object realization, errors, version, uptime —
// through the on-disk outbox, so it survives broker outages. Presence: a retained `online`
// status on connect and a last will saying `offline`. At start the persisted desired state is
// realized before any connection is tried (offline first).
import mqtt, { type MqttClient } from 'mqtt';
import {
  ENVELOPE_VERSION, agentClientId, intakeNodeMessage, nodeTopic,
  type EventEnvelope, type FlowsEnvelope, type ReportedEnvelope, type StatusEnvelope,
} from '../../api/mqtt.js';
import type { NodeDesired, NodeError, NodeReported, PodInventoryEntry, RealizedObject } from '../../api/node-state.js';
import type { FlowRecord } from '../../api/flow-record.js';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { Database } from '../../lib/sqlite.js';
import { DesiredStore } from './desired-store.js';
import { Outbox } from './outbox.js';
import type { RealizerRegistry } from './realizers.js';
import { migrateSync } from './schema.js';

const log = createLogger('agent.sync');

export type DesiredRejectReason = 'oversized' | 'wrongTopic' | 'malformed' | 'otherNode' | 'stale' | 'conflicting';

export interface AgentSyncOptions {
  node: string;
  url: string;
  username: string;
  password: string;
  db: Database;
  realizers: RealizerRegistry;
  agentVersion: string;
  outboxLimit?: number;
  maxMessageBytes?: number;
  /** The pods this box runs, for the report (the controller's span computation needs them). */
  inventory?: () => PodInventoryEntry[];
  backoff?: Backoff;
  /** Max errors kept in the report. */
  maxErrors?: number;
}

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
  private flushing?: Promise<void>;
  private flushAgain = false;
  /** Documents waiting for the realizer; only the newest matters. */
  private nextDesired?: NodeDesired;
  private realizing?: Promise<void>;
  private readonly listeners = new Set<(generation: number) => void>();

  private constructor(
    private readonly opts: AgentSyncOptions,
    private readonly desiredStore: DesiredStore,
    readonly outbox: Outbox,
  ) {
    this.backoff = opts.backoff ?? new Backoff({ initialMs: 200, maxMs: 15_000 });
  }

  static async open(opts: AgentSyncOptions): Promise<AgentSync> {
    await migrateSync(opts.db);
    return new AgentSync(opts, new DesiredStore(opts.db), await Outbox.open(opts.db, opts.outboxLimit ?? 10_000));
  }

  get generation(): number {
    return this.observedGeneration;
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

  /** Realizes the persisted state first (offline first), then connects; never waits for the broker. */
  async start(): Promise<void> {
    const persisted = await this.desiredStore.load();
    if (persisted) {
      log.info({ generation: persisted.generation, objects: Object.keys(persisted.objects).length }, 'realizing the persisted desired state');
      await this.realize(persisted);
    }
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    await this.realizing;
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      // A clean stop says offline itself; the last will covers crashes.
      await client.publishAsync(nodeTopic(this.opts.node, 'status'), JSON.stringify(this.status('offline')), { qos: 1, retain: true }).catch(() => undefined);
    }
    await client.endAsync(true).catch(() => undefined);
  }

  /** Handles one received message; exposed so tests can drive the matrix without a broker. Never throws. */
  async handleMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      const desired = this.acceptDesired(topic, payload);
      if (desired) await this.realize(desired);
    } catch (err) {
      log.error({ err, topic }, 'handling a desired message failed');
    }
  }

  private connect(): void {
    const { node } = this.opts;
    const client = mqtt.connect(this.opts.url, {
      clientId: agentClientId(node),
      username: this.opts.username,
      password: this.opts.password,
      clean: false, // the broker keeps our subscription and queued QoS 1 messages while we are away
      reconnectPeriod: 0, // reconnects are ours, with backoff and jitter
      connectTimeout: 10_000,
      will: { topic: nodeTopic(node, 'status'), payload: Buffer.from(JSON.stringify(this.status('offline'))), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.backoff.reset();
      log.info({ url: this.opts.url, sessionPresent: connack.sessionPresent }, 'connected to the controller broker');
      void this.onConnected(client);
    });
    client.on('message', (topic, payload) => void this.handleMessage(topic, payload));
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
      await client.publishAsync(nodeTopic(this.opts.node, 'status'), JSON.stringify(this.status('online')), { qos: 1, retain: true });
      await client.subscribeAsync(nodeTopic(this.opts.node, 'desired'), { qos: 1 });
      // A full resync: the retained desired document arrives on subscribe; the last report goes out again.
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

  private acceptDesired(topic: string, payload: Buffer): NodeDesired | undefined {
    const intake = intakeNodeMessage(topic, payload, this.opts.maxMessageBytes ?? 4 << 20);
    if ('empty' in intake) return undefined; // a retained message cleared: keep what we have
    if ('rejected' in intake) return this.reject(intake.rejected, topic, intake.detail);
    const msg = intake.message;
    if (msg.node !== this.opts.node) return this.reject('otherNode', topic, `this is ${this.opts.node}`);
    if (msg.channel !== 'desired') return this.reject('wrongTopic', topic, `the agent takes only desired state here, got ${msg.channel}`);
    const desired = msg.envelope.payload;
    if (desired.node !== this.opts.node) return this.reject('otherNode', topic, `document for ${desired.node}`);
    const current = this.nextDesired ?? this.desired;
    if (current && desired.generation < current.generation) return this.reject('stale', topic, `generation ${desired.generation} < ${current.generation} already applied`);
    if (current && desired.generation === current.generation) {
      if (JSON.stringify(desired.objects) === JSON.stringify(current.objects)) return undefined; // a replay of what we run
      return this.reject('conflicting', topic, `generation ${desired.generation} with different content`);
    }
    return desired;
  }

  /** Persists, then realizes; overlapping calls collapse to the newest document. */
  private async realize(desired: NodeDesired): Promise<void> {
    this.nextDesired = desired;
    while (this.realizing) await this.realizing;
    if (this.nextDesired !== desired) return; // a newer one came in meanwhile and is handled by its own call
    this.nextDesired = undefined;
    this.realizing = (async () => {
      await this.desiredStore.save(desired);
      this.desired = desired;
      this.realized = await this.opts.realizers.realizeAll(desired.objects);
      this.observedGeneration = desired.generation;
      this.realizedCount++;
      const failed = Object.values(this.realized).filter((o) => o.phase === 'Failed').length;
      log.info({ generation: desired.generation, objects: Object.keys(desired.objects).length, failed }, 'desired state realized');
      await this.enqueueReport();
      for (const l of this.listeners) l(desired.generation);
    })().finally(() => (this.realizing = undefined));
    await this.realizing;
  }

  private noteError(message: string, object?: string): void {
    this.errors.push({ ts: Date.now(), message, module: 'sync', ...(object ? { object } : {}) });
    this.errors.splice(0, Math.max(0, this.errors.length - (this.opts.maxErrors ?? 20)));
  }

  private status(state: 'online' | 'offline'): StatusEnvelope {
    return {
      v: ENVELOPE_VERSION, node: this.opts.node, ts: Date.now(), kind: 'status',
      payload: { state, agentVersion: this.opts.agentVersion, uptimeSeconds: this.uptime() },
    };
  }

  private uptime(): number {
    return Math.round((Date.now() - this.startedAt) / 100) / 10;
  }

  private async enqueueReport(): Promise<void> {
    const errors = [...this.errors];
    if (this.outbox.dropped > 0) errors.push({ ts: Date.now(), module: 'sync', message: `outbox bound hit: ${this.outbox.dropped} messages dropped` });
    const payload: NodeReported = {
      node: this.opts.node,
      observedGeneration: this.observedGeneration,
      objects: this.realized,
      errors,
      inventory: { pods: this.opts.inventory?.() ?? [] },
      agentVersion: this.opts.agentVersion,
      uptimeSeconds: this.uptime(),
    };
    const envelope: ReportedEnvelope = { v: ENVELOPE_VERSION, node: this.opts.node, generation: this.observedGeneration, ts: Date.now(), kind: 'reported', payload };
    await this.outbox.add(nodeTopic(this.opts.node, 'reported'), JSON.stringify(envelope), true);
    await this.flush();
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
          await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain });
          await this.outbox.remove(m.id);
        }
      } while (this.flushAgain || (await this.outbox.size()) > 0);
    })()
      .catch((err) => log.warn({ err: errorMessage(err) }, 'outbox flush interrupted; it resumes on reconnect'))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }
}
