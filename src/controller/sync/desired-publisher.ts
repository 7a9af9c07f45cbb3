// Publishes each node's desired document, retained at QoS 1, whenever what the node must run
// changes: on store changes, when a node gets credentials, and in full on every (re)connect to
// the broker (an external broker may have lost its retained messages). A report that moves a
// span asks for a partial publication: only the nodes prepare() names are rebuilt and hashed
// (with 10k boxes, one pod must not cost 10k documents). The node's generation
// moves only when the document's content changes, so agents can ignore replays; the store id
// tells agents when generations start over (a wiped or replaced store).
import type { MqttClient } from 'mqtt';
import { allNodesTopic, DEFAULT_MAX_MESSAGE_BYTES, DesiredEnvelopeSchema, ENVELOPE_VERSION, nodeTopic, parseNodeTopic, topicChannel, type DesiredEnvelope } from '../../api/mqtt.js';
import { objectKey, type DesiredObject } from '../../api/node-state.js';
import { CoalescingRunner } from '../../lib/coalesce.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder, type PhaseSpan } from '../../lib/phases.js';
import type { Span } from '../span.js';
import { canonicalJsonMemo } from '../../lib/canonical-json.js';
import { createHash } from 'node:crypto';
import { StaleViewError, type NodeRegistry } from '../store/nodes.js';
import type { ObjectStore, StoredRecord } from '../store/objects.js';
import type { ReleaseTarget } from '../../api/release.js';

const log = createLogger('controller.desired');
/** One publication: waiting for the previous, the store read, prepare (spans), documents built and hashed, generations stored, sent (PUBACKs). */
const phases = phaseRecorder('controller.publish');

/**
 * What one node must run, keyed by objectKey(). The default ships each object in the node's
 * span as it is; the policy computation replaces this with per-node internal policies.
 */
export type DesiredDocumentBuilder = (node: string, objects: readonly StoredRecord[], nodes: readonly string[]) => Record<string, DesiredObject>;

/** `inSpan`: a membership test equal to `span(o, nodes).includes(node)` without building the list (PolicySpan.inSpan). */
export function spanDocumentBuilder(span: Span, inSpan?: (object: StoredRecord, node: string, nodes: readonly string[]) => boolean): DesiredDocumentBuilder {
  const has = inSpan ?? ((o: StoredRecord, node: string, nodes: readonly string[]) => span(o, nodes).includes(node));
  return (node, objects, nodes) => {
    const out: Record<string, DesiredObject> = {};
    for (const o of objects) if (has(o, node, nodes)) out[objectKey(o)] = { generation: o.generation, spec: o.spec };
    return out;
  };
}

/** The nodes a preparation changed the documents of, or 'all' (prepare returning nothing means 'all' too). */
export type PreparedChanges = ReadonlySet<string> | 'all';

/** What one publication did: documents built and hashed, those whose hash moved, those sent. */
export interface PublicationStats {
  partial: boolean;
  built: number;
  changed: number;
  sent: number;
  ms: number;
}

export interface DesiredPublisherContext {
  store: ObjectStore;
  nodes: NodeRegistry;
  client: MqttClient;
  build: DesiredDocumentBuilder;
  /**
   * Runs before each publication (the policy span recomputes there); names the nodes it changed,
   * if it knows. `objects`: the store as this publication read it (one read serves all).
   */
  prepare?: (objects: readonly StoredRecord[]) => Promise<PreparedChanges | void>;
  /** The store's identity (store/identity.ts); every document carries it. */
  storeId: string;
  /** Also look for changes every this many ms (a store shared with other replicas changes under us). */
  resyncMs?: number;
  /** The release a rollout asks the node to run (releases/rollouts.ts); part of the document and its hash. */
  releaseTarget?: (node: string) => ReleaseTarget | undefined;
  /** The agreed MQTT payload limit (DEFAULT_MAX_MESSAGE_BYTES): a larger document is not published. */
  maxMessageBytes?: number;
  /**
   * With replicas: watch the desired documents the broker takes (every replica's, in the broker's
   * order). Two replicas' publishes can reach the broker out of order, leaving an older retained
   * copy than the box runs (a box starting from an empty store would take it); one older than
   * the newest seen for its node means just that, and the node's current document goes again.
   */
  repairRetained?: boolean;
}

/** A node's document that was too large to publish: what it held, for the node's and the objects' status. */
export interface UndeliverableDocument {
  generation: number;
  bytes: number;
  limit: number;
  objects: ReadonlySet<string>;
}

/** With a shared store, every this many resync ticks is a publication over every node. */
const FULL_RESYNC_EVERY = 10;

/**
 * A publication refused because another replica published from a newer store revision is read
 * and built again, at most this many times in a row (each refusal means the store moved on).
 */
const STALE_ATTEMPTS = 5;

export class DesiredPublisher {
  private readonly runner = new CoalescingRunner(() => this.publish(this.forceNext));
  private forceNext = false;
  /** Begun by the first kick the next publication answers: its `queued` phase is the wait for the one running. */
  private nextSpan?: PhaseSpan;
  /** A publication over every node is owed (a store change, credentials, a republish for reasons unseen). */
  private fullNext = true;
  /** The hash last recorded per node: an unchanged document costs no store transaction. */
  private readonly lastHash = new Map<string, string>();
  /** Document hashes already checked against the schema: a fleet-wide policy is one document, checked once. */
  private readonly validated = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];
  /** Set by stop(): egress moves, rollouts and late reports still ask for republishes while the store closes. */
  private stopped = false;
  published = 0;
  /** Documents built and hashed, in total (a partial publication builds only the nodes it names). */
  built = 0;
  /** Documents whose content changed (a new generation), in total: sent + undeliverable. */
  changed = 0;
  /** Publications refused (another replica published from a newer store revision) and built again. */
  refused = 0;
  /** The last publication's counts (tests and the sync-fleet bench read them). */
  lastPublication?: PublicationStats;
  /** Nodes whose current document is over the message limit (not published), by node. */
  readonly undeliverable = new Map<string, UndeliverableDocument>();
  /** repairRetained: the newest generation the broker took per node, and the nodes to publish again. */
  private readonly newestSeen = new Map<string, number>();
  private readonly forced = new Set<string>();
  /** repairRetained: retained copies found older than the newest (published again). */
  retainedRepaired = 0;
  private readonly onDesired = (topic: string, payload: Buffer) => this.sawDesired(topic, payload);

  constructor(private readonly ctx: DesiredPublisherContext) {}

  async start(): Promise<void> {
    this.unsubscribe.push(this.ctx.store.onChange(() => void this.kick(false)));
    this.unsubscribe.push(this.ctx.nodes.onChange((_n, what) => what === 'credentials' && void this.kick(false)));
    const onConnect = () => void this.kick(true);
    this.ctx.client.on('connect', onConnect);
    this.unsubscribe.push(() => this.ctx.client.off('connect', onConnect));
    if (this.ctx.repairRetained) {
      this.ctx.client.on('message', this.onDesired);
      this.unsubscribe.push(() => this.ctx.client.off('message', this.onDesired));
      // Our own publishes too (no noLocal): the order across replicas is the point. rh 2: not the retained copies at subscribe.
      await this.ctx.client.subscribeAsync(allNodesTopic('desired'), { qos: 1, rh: 2 });
    }
    if (this.ctx.resyncMs) {
      // A tick rebuilds the nodes whose policies moved by reports other replicas took (prepare
      // says which; an object changed through another replica makes that every node); every
      // FULL_RESYNC_EVERY-th tick rebuilds every node (a rollout or registration seen late). A
      // full rebuild per second would cost a 10k fleet's replicas most of a core doing nothing.
      let tick = 0;
      const timer = setInterval(() => void this.kick(false, ++tick % FULL_RESYNC_EVERY === 0), this.ctx.resyncMs);
      this.unsubscribe.push(() => clearInterval(timer));
    }
    await this.kick(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe.splice(0)) u();
    await this.runner.idle();
  }

  /** Why a node's current desired document did not go out, if it did not. */
  nodeError(node: string): string | undefined {
    const u = this.undeliverable.get(node);
    return u && `desired document generation ${u.generation} is ${u.bytes} bytes, over the ${u.limit}-byte message limit (maxMessageBytes): not published`;
  }

  /** Status over an object one of whose nodes cannot get its document (merged over the realization status). */
  objectStatus(record: Pick<StoredRecord, 'kind' | 'namespace' | 'name'>): Record<string, unknown> | undefined {
    const key = objectKey(record);
    const nodes = [...this.undeliverable].filter(([, u]) => u.objects.has(key)).map(([n, u]) => `${n} (${u.bytes} > ${u.limit} bytes)`);
    if (!nodes.length) return undefined;
    return {
      phase: 'Failed',
      conditions: [{ type: 'Delivered', status: 'False', reason: 'DesiredDocumentTooLarge', message: `desired document over the message limit, not published to: ${nodes.slice(0, 5).join(', ')}` }],
    };
  }

  /** Publishes what changed for reasons the publisher cannot see (an Egress moved, a rollout, a revocation): every node is rebuilt. */
  republish(): Promise<void> {
    return this.kick(false);
  }

  /** Publishes after a node's inventory changed: only the nodes prepare() names are rebuilt. */
  republishChanged(): Promise<void> {
    return this.kick(false, false);
  }

  /** Resolves once every change made before the call is published. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** A desired document the broker took (repairRetained): one older than its node's newest seen is now the retained copy. */
  private sawDesired(topic: string, payload: Buffer): void {
    if (topicChannel(topic) !== 'desired' || !payload.length) return;
    let node: string;
    try {
      ({ node } = parseNodeTopic(topic));
    } catch {
      return; // not a node's topic (a bad node name): nothing of ours
    }
    // The envelope's generation comes before its payload (see publishNodes): no parse of the whole document.
    const g = /"generation":(\d+)/.exec(payload.subarray(0, 256).toString('latin1'));
    if (!g) return;
    const generation = Number(g[1]);
    const newest = this.newestSeen.get(node) ?? 0;
    if (generation >= newest) return void this.newestSeen.set(node, generation);
    this.retainedRepaired++;
    log.warn({ node, generation, newest }, 'an older desired document reached the broker after a newer one (replicas\' publishes crossed): publishing the current one again');
    this.forced.add(node);
    void this.kick(false, false);
  }

  private kick(force: boolean, full = true): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.forceNext ||= force;
    this.fullNext ||= full;
    this.nextSpan ??= phases.begin();
    return this.runner.run().catch((err) => log.error({ err }, 'publishing desired state failed'));
  }

  private async publish(force: boolean): Promise<void> {
    const t0 = performance.now();
    this.forceNext = false;
    let full = this.fullNext || force;
    this.fullNext = false;
    const span = this.nextSpan ?? phases.begin();
    this.nextSpan = undefined;
    span.mark('queued');
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.publishNodes(force, full, t0, span);
          break;
        } catch (err) {
          if (!(err instanceof StaleViewError) || attempt >= STALE_ATTEMPTS) throw err;
          // Another replica stored a change and published it after this one read the store: what
          // was built here is older than what the boxes have. Nothing was sent; read and build again, every node.
          this.refused++;
          log.info({ builtFrom: err.builtFrom, published: err.published, attempt }, 'desired documents built from an older store revision than published: reading the store again');
          full = true;
        }
      }
      span.end();
    } catch (err) {
      // What prepare() said changed is consumed: the next publication covers every node.
      this.fullNext = true;
      throw err;
    }
  }

  private async publishNodes(force: boolean, full: boolean, t0: number, span: PhaseSpan): Promise<void> {
    // The objects first, then prepare (span computation): an object stored in between must not be
    // published with a span computed before it existed (which reads as "every node").
    // The objects come with the store revision they are at: the documents built from them are
    // recorded only if no replica published from a newer one (a document never goes back).
    const [{ objects, revision }, nodes] = await Promise.all([this.ctx.store.snapshot(), this.ctx.nodes.names()]);
    span.mark('load');
    const prepared = await this.ctx.prepare?.(objects);
    span.mark('prepare');
    const partial = !full && prepared !== undefined && prepared !== 'all';
    // Nodes whose retained copy went back get their current document again (repairRetained).
    const forced = new Set(this.forced);
    const targets = partial ? nodes.filter((n) => prepared.has(n) || forced.has(n)) : nodes;
    const docs = new Map<string, { objects: Record<string, DesiredObject>; release?: ReleaseTarget | undefined; hash: string }>();
    // A fleet-wide change writes thousands of documents sharing the same specs: each spec's text
    // is written once (memo by identity) and each distinct document hashed once; the nodes with
    // the same document share one objects record until they are sent (issue #22: what lives
    // through the send, seconds at 10k, outlives the young generation and becomes old garbage).
    const memo = new WeakMap<object, string>();
    const distinct = new Map<string, { hash: string; objects: Record<string, DesiredObject> }>();
    for (const node of targets) {
      const built = this.ctx.build(node, objects, nodes);
      const release = this.ctx.releaseTarget?.(node);
      // Without a release the hash is the objects' alone, as before releases existed (no generation churn).
      const text = canonicalJsonMemo(release ? { objects: built, release } : built, memo)!;
      let same = distinct.get(text);
      if (same === undefined) distinct.set(text, (same = { hash: createHash('sha256').update(text).digest('base64url'), objects: built }));
      if (force || forced.has(node) || this.lastHash.get(node) !== same.hash) docs.set(node, { objects: same.objects, release, hash: same.hash });
    }
    span.mark('build');
    // One store transaction for all nodes: a fleet-wide change must not cost one per node.
    const generations = await this.ctx.nodes.desiredGenerations(new Map([...docs].map(([n, d]) => [n, d.hash])), revision);
    span.mark('generations');
    const sentBefore = this.published;
    this.built += targets.length;
    await Promise.all([...generations].map(async ([node, { generation, changed }]) => {
      const doc = docs.get(node)!;
      const { objects: docObjects, hash } = doc;
      if (!changed && !force && !forced.has(node)) return void this.lastHash.set(node, hash);
      // Only the text waits for the PUBACK (the envelope is made and dropped in envelopeText).
      const text = this.envelopeText(node, generation, doc);
      const bytes = Buffer.byteLength(text);
      const limit = this.ctx.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
      if (bytes > limit) {
        // Never a silent drop: the node keeps what it runs, and its status and its objects' say why.
        this.undeliverable.set(node, { generation, bytes, limit, objects: new Set(Object.keys(docObjects)) });
        this.lastHash.set(node, hash);
        log.error({ node, generation, bytes, limit, objects: Object.keys(docObjects).length }, 'desired document over the message limit (maxMessageBytes): not published');
        return;
      }
      this.undeliverable.delete(node);
      await this.ctx.client.publishAsync(nodeTopic(node, 'desired'), text, { qos: 1, retain: true });
      this.lastHash.set(node, hash); // once it is out (MQTT.js queues a publish made while offline; every connect republishes all)
      this.published++;
      log.debug({ node, generation, objects: Object.keys(docObjects).length }, 'desired state published');
    }));
    span.mark('send');
    const changedCount = [...generations.values()].filter((g) => g.changed).length;
    span.note({ built: targets.length, changed: changedCount });
    this.changed += changedCount;
    this.lastPublication = { partial, built: targets.length, changed: changedCount, sent: this.published - sentBefore, ms: performance.now() - t0 };
    for (const n of forced) this.forced.delete(n);
    log.debug(this.lastPublication, 'publication');
  }

  /** The node's desired envelope as sent, checked against the contract (once per distinct document). */
  private envelopeText(node: string, generation: number, doc: { objects: Record<string, DesiredObject>; release?: ReleaseTarget | undefined; hash: string }): string {
    const envelope: DesiredEnvelope = {
      v: ENVELOPE_VERSION, node, generation, ts: Date.now(), kind: 'desired',
      payload: { node, storeId: this.ctx.storeId, generation, objects: doc.objects, ...(doc.release ? { release: doc.release } : {}) },
    };
    // The contract is checked on the way out too: a bad document never reaches a node.
    if (!this.validated.has(doc.hash)) {
      DesiredEnvelopeSchema.parse(envelope);
      if (this.validated.size > 10_000) this.validated.clear();
      this.validated.add(doc.hash);
    }
    return JSON.stringify(envelope);
  }
}
