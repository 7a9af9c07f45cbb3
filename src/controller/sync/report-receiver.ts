// Takes in what nodes publish: presence (status, with the broker's last will for offline) and
// reported state. Every message is checked against its topic and schema; bad ones are counted
// by reason, logged and dropped — a node can never crash the controller. Nodes never retain
// anything: a retained node message an external broker still holds (an older agent, a forger;
// the embedded broker clears the flag itself) is old news — it is cleared there and ignored.
import type { IPublishPacket, MqttClient } from 'mqtt';
import { NODE_PUBLISH_CHANNELS, allNodesTopic, intakeNodeMessage, parseNodeTopic, topicChannel } from '../../api/mqtt.js';
import type { NodeReported } from '../../api/node-state.js';
import { CoalescingRunner } from '../../lib/coalesce.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder } from '../../lib/phases.js';
import { Backoff } from '../../lib/backoff.js';
import { sleep } from '../../lib/process.js';
import type { RecentEvents } from '../events.js';
import type { NodePresence, NodeRegistry } from '../store/nodes.js';
import type { FleetFlows } from '../flows/fleet-flows.js';

const log = createLogger('controller.reports');
/** After a failed write of reports: the first wait before writing again, doubled per failure up to max. */
const WRITE_RETRY_MS = { first: 100, max: 5_000 };
/** One report: taken in (size, topic, schema, node known), written (with the reports that came meanwhile), handed on (spans). */
const reportPhases = phaseRecorder('controller.report');

export type RejectReason = 'oversized' | 'wrongTopic' | 'malformed' | 'unknownNode' | 'stale' | 'retained';

export interface ReportReceiverContext {
  nodes: NodeRegistry;
  client: MqttClient;
  maxMessageBytes: number;
  /** Where accepted node events go (with replicas: the events this replica received). */
  events?: RecentEvents;
  /** Told every accepted report, after it is stored. */
  onReport?: (node: string, reported: NodeReported) => void;
  /**
   * With controller replicas: reports and events come through `$share/<group>/…`, so each
   * reaches one replica. Status (retained, small) every replica takes, to know who is online.
   */
  shareGroup?: string;
  /** Where flow record batches go (the fleet flow store). */
  flows?: FleetFlows;
  /**
   * Whether the node has a session on the broker now, where the controller knows it (the
   * embedded broker). Then that is what "online" means: a report or status delivered after
   * its session closed, or the last will of a session taken over by a newer one, changes nothing.
   */
  sessionOpen?: (node: string) => boolean;
  /** After a failed write: the first wait before writing again and the longest (doubled per failure), ms. */
  writeRetryMs?: { first: number; max: number };
}

export class ReportReceiver {
  readonly rejected: Record<RejectReason, number> = { oversized: 0, wrongTopic: 0, malformed: 0, unknownNode: 0, stale: 0, retained: 0 };
  accepted = 0;
  /** Accepted messages that carried fields this controller does not know (dropped; see parseNodeMessage). */
  withIgnoredFields = 0;
  private readonly ignoredWarned = new Map<string, string>();
  /** Accepted messages by channel (status, reported, events, flows). */
  readonly acceptedBy: Record<string, number> = {};
  /** Envelope time of the last accepted message, per node then channel; older ones are replays. */
  private readonly lastTs = new Map<string, Map<string, number>>();
  /** Desired documents are the publisher's (with replicas it watches them: DesiredPublisher repairRetained), never a node's. */
  private readonly onMessage = (topic: string, payload: Buffer, packet?: IPublishPacket) => void (topicChannel(topic) !== 'desired' && this.handle(topic, payload, packet?.retain === true));
  private readonly onConnect = () => void this.subscribe();
  /**
   * Reports and presence waiting to be written, newest per node; written together, a statement
   * per few hundred nodes per batch (a fleet-wide document brings every box's report at once).
   */
  private pendingReports = new Map<string, NodeReported>();
  /** The agent's envelope time of each pending report (an older one never overwrites a newer one in the store). */
  private pendingSentAt = new Map<string, number>();
  /**
   * The latest word on each node's presence in the batch, whatever it came from: a status, the
   * broker's session, or a report (it came over a live session, so it says "online"). Written by
   * itself, never through the report row: a report the store skips (older than the stored one,
   * as a replay after a reconnect can be) must not take the presence it brought with it.
   */
  private pendingPresence = new Map<string, NodePresence>();
  /**
   * Reports their callers do not hand on: the store skipped them (older than the stored one), or
   * their write failed and they were kept for a retry (the write that lands them hands them on).
   */
  private readonly skipped = new WeakSet<NodeReported>();
  /** Reports kept after a failed write: handed on by the retry that writes them. */
  private readonly kept = new WeakSet<NodeReported>();
  /** Writes of a batch that failed (a transient store error: a PostgreSQL failover, a lock timeout). */
  writeFailures = 0;
  /** After a failed write: no write starts before this (backoff), and the timer that starts it. */
  private retryAt = 0;
  /** Exact doubling, no jitter: one controller retries its own store, there is no herd to spread. */
  private readonly retryBackoff: Backoff;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly writer = new CoalescingRunner(() => this.write());
  private readonly unhookNodes: () => void;

  constructor(private readonly ctx: ReportReceiverContext) {
    const { first, max } = ctx.writeRetryMs ?? WRITE_RETRY_MS;
    this.retryBackoff = new Backoff({ initialMs: first, maxMs: max, jitter: 0 });
    this.unhookNodes = ctx.nodes.onChange((node, what) => what === 'removed' && this.forgetNode(node));
  }

  /** Per-node entries of this receiver, kept while the node is registered. */
  get nodesKept(): number {
    return new Set([...this.lastTs.keys(), ...this.ignoredWarned.keys()]).size;
  }

  /** A removed node's entries go (a fleet's churn must not grow the receiver); added again, it starts afresh. */
  private forgetNode(node: string): void {
    this.ignoredWarned.delete(node);
    this.lastTs.delete(node);
  }

  /**
   * Writes what is pending. A failed write loses nothing: the batch goes back under what came
   * meanwhile (the newest word per node wins), its callers are released, and it is written again
   * after a backoff. Memory stays bounded: pending holds at most one report and one presence per
   * registered node, whatever the outage's length, and a caller waits a backoff or two at most.
   */
  private async write(): Promise<void> {
    const wait = this.retryAt - Date.now();
    if (wait > 0) await sleep(wait);
    const [reports, presence, sentAt] = [this.pendingReports, this.pendingPresence, this.pendingSentAt];
    this.pendingReports = new Map();
    this.pendingSentAt = new Map();
    this.pendingPresence = new Map();
    const open = this.ctx.sessionOpen;
    if (open) for (const [node, p] of presence) presence.set(node, { ...p, online: open(node) });
    let presenceWritten = false;
    try {
      await this.ctx.nodes.setPresences(presence);
      presenceWritten = true;
      const written = await this.ctx.nodes.recordReports(reports, sentAt);
      if (this.retryBackoff.attempts) log.info({ nodes: reports.size, failures: this.writeFailures }, 'node reports written again after a failed write');
      this.retryAt = 0;
      this.retryBackoff.reset();
      for (const [node, r] of reports) {
        if (!written.has(node)) this.skipped.add(r);
        else if (this.kept.has(r)) this.ctx.onReport?.(node, r);
      }
    } catch (err) {
      this.writeFailures++;
      this.keep(reports, sentAt, presenceWritten ? new Map() : presence);
      const retryMs = this.retryBackoff.next();
      this.retryAt = Date.now() + retryMs;
      clearTimeout(this.retryTimer);
      if (!this.stopped) this.retryTimer = setTimeout(() => void this.writer.run(), retryMs).unref();
      log.warn({ err, nodes: this.backlog, retryMs, failures: this.writeFailures }, 'writing node reports failed: kept, written again after a backoff');
    }
  }

  /** A failed batch back into pending, under what came meanwhile (newer). */
  private keep(reports: Map<string, NodeReported>, sentAt: Map<string, number>, presence: Map<string, NodePresence>): void {
    for (const [node, r] of reports) {
      this.skipped.add(r);
      if (this.pendingReports.has(node)) continue;
      this.kept.add(r);
      this.pendingReports.set(node, r);
      const ts = sentAt.get(node);
      if (ts !== undefined) this.pendingSentAt.set(node, ts);
    }
    for (const [node, p] of presence) if (!this.pendingPresence.has(node)) this.pendingPresence.set(node, p);
  }

  /** Nodes whose report or presence waits to be written (after a failed write: kept for the retry). */
  get backlog(): number {
    let n = this.pendingReports.size;
    for (const node of this.pendingPresence.keys()) if (!this.pendingReports.has(node)) n++;
    return n;
  }

  async start(): Promise<void> {
    this.ctx.client.on('message', this.onMessage);
    this.ctx.client.on('connect', this.onConnect);
    await this.subscribe();
  }

  stop(): void {
    this.unhookNodes();
    this.ctx.client.off('message', this.onMessage);
    this.ctx.client.off('connect', this.onConnect);
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /**
   * Presence from elsewhere (the embedded broker's sessions), written in the same batches as
   * reports and status messages so that the latest word about a node wins whatever its source.
   */
  presence(node: string, presence: NodePresence): Promise<void> {
    this.pendingPresence.set(node, presence);
    return this.writer.run();
  }

  /** Resolves once every report taken in so far is written (or kept for a retry after a failed write: `backlog`). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  get rejectedTotal(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  private async subscribe(): Promise<void> {
    const shared = (t: string) => (this.ctx.shareGroup ? `$share/${this.ctx.shareGroup}/${t}` : t);
    const flows = this.ctx.flows ? [shared(allNodesTopic('flows'))] : [];
    await this.ctx.client.subscribeAsync([allNodesTopic('status'), shared(allNodesTopic('reported')), shared(allNodesTopic('events')), ...flows], { qos: 1 });
  }

  /** Exposed for tests that drive messages without a broker. Never throws. `retained`: it came from the broker's retained store. */
  async handle(topic: string, payload: Buffer, retained = false): Promise<void> {
    try {
      if (retained && payload.length > 0 && isNodeChannel(topic)) {
        this.reject('retained', topic, 'nodes may not retain messages: cleared from the broker');
        await this.ctx.client.publishAsync(topic, '', { qos: 1, retain: true });
        return;
      }
      await this.accept(topic, payload);
    } catch (err) {
      log.error({ err, topic }, 'handling a node message failed');
    }
  }

  /** Fields a newer agent sent that this controller dropped: one warning per node and set of fields (upgrade the controller). */
  private noteIgnored(node: string, channel: string, fields: readonly string[]): void {
    this.withIgnoredFields++;
    const key = `${channel}:${fields.join(',')}`;
    if (this.ignoredWarned.get(node) === key) return;
    this.ignoredWarned.set(node, key);
    log.warn({ node, channel, fields: fields.slice(0, 20) }, 'node sent fields this controller does not know (a newer agent?): ignored');
  }

  private reject(reason: RejectReason, topic: string, detail: string): void {
    this.rejected[reason]++;
    log.warn({ topic, reason, detail: detail.slice(0, 500) }, 'node message rejected');
  }

  private async accept(topic: string, payload: Buffer): Promise<void> {
    const span = reportPhases.begin();
    const intake = intakeNodeMessage(topic, payload, this.ctx.maxMessageBytes);
    if ('empty' in intake) return; // a retained message being cleared: nothing to do
    if ('rejected' in intake) return this.reject(intake.rejected, topic, intake.detail);
    const msg = intake.message;
    if (msg.channel === 'rpc') return; // the rpc client's (src/controller/sync/rpc-client.ts)
    const takesFlows = msg.channel === 'flows' && this.ctx.flows !== undefined;
    if (msg.channel !== 'status' && msg.channel !== 'reported' && msg.channel !== 'events' && !takesFlows) return this.reject('wrongTopic', topic, `the controller does not take ${msg.channel} from nodes here`);
    if (!(await this.ctx.nodes.exists(msg.node))) return this.reject('unknownNode', topic, `no node ${msg.node} in the registry`);
    // Noted only for registered nodes: what is kept per node must not grow with names made up on a topic.
    if (msg.ignoredFields) this.noteIgnored(msg.node, msg.channel, msg.ignoredFields);
    const times = this.lastTs.get(msg.node);
    const last = times?.get(msg.channel);
    // The last will was composed at connect time, so an offline status is older than the online one it follows.
    // Events and flow batches are streams, not states: each one counts, whatever its time.
    const exempt = msg.channel === 'events' || msg.channel === 'flows' || (msg.channel === 'status' && msg.envelope.payload.state === 'offline');
    if (!exempt && last !== undefined && msg.envelope.ts < last) return this.reject('stale', topic, `ts ${msg.envelope.ts} older than ${last}`);
    if (!exempt) {
      if (times) times.set(msg.channel, msg.envelope.ts);
      else this.lastTs.set(msg.node, new Map([[msg.channel, msg.envelope.ts]]));
    }
    this.accepted++;
    this.acceptedBy[msg.channel] = (this.acceptedBy[msg.channel] ?? 0) + 1;
    if (msg.channel === 'status') {
      const p = msg.envelope.payload;
      // The latest message of a node wins: a last will after a report leaves it offline.
      this.pendingPresence.set(msg.node, { online: p.state === 'online', agentVersion: p.agentVersion, uptimeSeconds: p.uptimeSeconds });
      await this.writer.run();
      log.info({ node: msg.node, state: p.state }, 'node presence');
    } else if (msg.channel === 'reported') {
      if (msg.envelope.payload.node !== msg.node) return this.reject('malformed', topic, 'payload.node differs from the topic');
      span.mark('intake');
      const reported = msg.envelope.payload;
      this.pendingReports.set(msg.node, reported);
      this.pendingSentAt.set(msg.node, msg.envelope.ts);
      this.pendingPresence.set(msg.node, { online: true, agentVersion: reported.agentVersion, uptimeSeconds: reported.uptimeSeconds });
      await this.writer.run();
      span.mark('write');
      // A report the store skipped is older than what the spans already took: it moves nothing.
      if (!this.skipped.has(reported)) this.ctx.onReport?.(msg.node, reported);
      span.mark('notify');
      span.note({ node: msg.node, generation: reported.observedGeneration });
      span.end();
    } else if (msg.channel === 'flows') {
      await this.ctx.flows!.add(msg.node, msg.envelope.payload.records);
    } else {
      this.ctx.events?.push({ ...msg.envelope.payload, node: msg.node, ts: msg.envelope.ts });
      log.debug({ node: msg.node, event: msg.envelope.payload }, 'node event');
    }
  }
}

/** A topic nodes publish on (where no retained message may stay). */
function isNodeChannel(topic: string): boolean {
  try {
    return NODE_PUBLISH_CHANNELS.includes(parseNodeTopic(topic).channel);
  } catch {
    return false;
  }
}
