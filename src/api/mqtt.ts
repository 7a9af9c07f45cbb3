// MQTT topics and message envelopes between agents and the controller. Topic strings are built
// and parsed only here, so a node's broker ACL (`seine/v1/nodes/<node>/#`) and the code agree.
import { z } from 'zod';
import { FlowRecordBatchSchema } from './flow-record.js';
import { describeProblem, formatIssues, formatPath } from './issues.js';
import { NodeNameSchema, isDNS1123Subdomain } from './meta.js';
import { NodeDesiredSchema, NodeDesiredShapeSchema, NodeReportedSchema, RealizedObjectSchema, type DesiredObjectsMemo } from './node-state.js';

export const TOPIC_ROOT = 'seine/v1';

/**
 * The one MQTT payload limit, bytes, that the broker, the controller and the agents agree on
 * (config `maxMessageBytes` on the controller, `controller.maxMessageBytes` on an agent; an
 * external broker's own limit, e.g. mosquitto's message_size_limit, must be at least this). A
 * desired document above it is not published: the node and its objects show the error.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 << 20;
export const FLEET_RELEASES_TOPIC = `${TOPIC_ROOT}/fleet/releases`;

/** Per-node channels; `rpc` topics carry a request id after the channel. */
export const NODE_CHANNELS = ['status', 'desired', 'reported', 'flows', 'events', 'rpc'] as const;
export type NodeChannel = (typeof NODE_CHANNELS)[number];

const RPC_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class TopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicError';
  }
}

function checkNode(node: string): void {
  // Also guarantees no '/', '+' or '#', which would escape the node's subtree.
  if (!isDNS1123Subdomain(node)) throw new TopicError(`invalid node name ${JSON.stringify(node)} in topic`);
}

/** `seine/v1/nodes/<node>/<channel>` for every channel but rpc. */
export function nodeTopic(node: string, channel: Exclude<NodeChannel, 'rpc'>): string {
  checkNode(node);
  return `${TOPIC_ROOT}/nodes/${node}/${channel}`;
}

/** `seine/v1/nodes/<node>/rpc/<id>`; the response goes to MQTT 5 responseTopic with the same correlation data. */
export function rpcTopic(node: string, id: string): string {
  checkNode(node);
  if (!RPC_ID.test(id)) throw new TopicError(`invalid rpc id ${JSON.stringify(id)}: expected 1-64 of A-Z a-z 0-9 _ -`);
  return `${TOPIC_ROOT}/nodes/${node}/rpc/${id}`;
}

/** A node's subscription to the requests addressed to it. */
export function nodeRpcFilter(node: string): string {
  checkNode(node);
  return `${TOPIC_ROOT}/nodes/${node}/rpc/+`;
}

/** Everything under one node: what its broker credentials may publish and subscribe to. */
export function nodeSubtree(node: string): string {
  checkNode(node);
  return `${TOPIC_ROOT}/nodes/${node}/#`;
}

/** The controller's subscription to one channel of every node. */
export function allNodesTopic(channel: NodeChannel): string {
  return channel === 'rpc' ? `${TOPIC_ROOT}/nodes/+/rpc/+` : `${TOPIC_ROOT}/nodes/+/${channel}`;
}

/**
 * The controller's broker login. Not a DNS-1123 name, so no node can ever be called that; ACLs
 * grant it every node's topics.
 */
export const CONTROLLER_USERNAME = '_controller';

/** MQTT client id of a node's agent: fixed, so its persistent session survives reconnects, and
 * checked by the broker against the username, so no node can take over another's session. */
export function agentClientId(node: string): string {
  checkNode(node);
  return `seine-agent-${node}`;
}

/** Channels a node publishes on (the controller publishes `desired`; rpc goes both ways). */
export const NODE_PUBLISH_CHANNELS: readonly NodeChannel[] = ['status', 'reported', 'flows', 'events', 'rpc'];
/** Channels a node subscribes to. */
export const NODE_SUBSCRIBE_CHANNELS: readonly NodeChannel[] = ['desired', 'rpc'];

export interface NodeTopic {
  node: string;
  channel: NodeChannel;
  /** Only for the rpc channel. */
  rpcId?: string;
}

/**
 * The channel level of a node topic, unchecked (undefined when the topic has none): a look that
 * costs no parse, for a listener that takes one channel and leaves the others' payloads alone.
 */
export function topicChannel(topic: string): string | undefined {
  const parts = topic.split('/', 6);
  return `${parts[0]}/${parts[1]}` === TOPIC_ROOT && parts[2] === 'nodes' ? parts[4] : undefined;
}

/** Splits a concrete node topic; throws TopicError for anything that is not one (wildcards included). */
export function parseNodeTopic(topic: string): NodeTopic {
  const parts = topic.split('/');
  const [root, version, nodes, node, channel, rpcId] = parts;
  if (`${root}/${version}` !== TOPIC_ROOT || nodes !== 'nodes' || node === undefined || channel === undefined) {
    throw new TopicError(`not a Seine node topic: ${JSON.stringify(topic)} (expected ${TOPIC_ROOT}/nodes/<node>/<channel>)`);
  }
  checkNode(node);
  if (!(NODE_CHANNELS as readonly string[]).includes(channel)) {
    throw new TopicError(`unknown channel ${JSON.stringify(channel)} in ${JSON.stringify(topic)} (expected ${NODE_CHANNELS.join('|')})`);
  }
  if (channel === 'rpc') {
    if (parts.length !== 6 || rpcId === undefined || !RPC_ID.test(rpcId)) {
      throw new TopicError(`rpc topic needs one request id: ${JSON.stringify(topic)} (expected ${TOPIC_ROOT}/nodes/<node>/rpc/<id>)`);
    }
    return { node, channel, rpcId };
  }
  if (parts.length !== 5) throw new TopicError(`unexpected levels after ${channel} in ${JSON.stringify(topic)}`);
  return { node, channel: channel as NodeChannel };
}

// ---- envelopes ------------------------------------------------------------------------------

export const ENVELOPE_VERSION = 1;

/** `{v: 1, node, generation?, ts, kind, payload}`: ts in milliseconds since the epoch. */
export function envelopeSchema<K extends string, P extends z.ZodType>(kind: K, payload: P) {
  return z.strictObject({
    v: z.literal(ENVELOPE_VERSION),
    node: NodeNameSchema,
    /** Desired-state generation the message refers to, where one applies. */
    generation: z.number().int().nonnegative().optional(),
    ts: z.number().int().nonnegative(),
    kind: z.literal(kind),
    payload,
  });
}

export const StatusPayloadSchema = z.strictObject({
  state: z.enum(['online', 'offline']),
  agentVersion: z.string().optional(),
  uptimeSeconds: z.number().nonnegative().optional(),
});

export const EventPayloadSchema = z.strictObject({
  severity: z.enum(['info', 'warning', 'error']),
  /** e.g. policy-log, deny, alert from nodes; `rollout` from the controller itself (fields: RolloutEventFieldsSchema in release.ts). */
  type: z.string().min(1),
  message: z.string(),
  /** objectKey() of the object concerned, if any. */
  object: z.string().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
});

export const RpcRequestPayloadSchema = z.strictObject({
  method: z.string().min(1),
  params: z.unknown().optional(),
  /** Milliseconds since the epoch after which the caller no longer waits. */
  deadline: z.number().int().nonnegative().optional(),
});

export const RpcResponsePayloadSchema = z.union([
  z.strictObject({ ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: z.strictObject({ code: z.string().min(1), message: z.string() }) }),
]);
export type RpcResponsePayload = z.infer<typeof RpcResponsePayloadSchema>;

// ---- request/response --------------------------------------------------------------------
//
// The controller publishes an `rpc-request` envelope on `nodes/<node>/rpc/<id>`. Over MQTT 5 it
// sets responseTopic (that same topic) and correlationData (the id) and a message expiry; the
// agent answers on responseTopic — only if it is one of its own rpc topics — echoing
// correlationData. Over MQTT 3.1.1 (the embedded aedes broker) there are no properties: the
// answer goes to the request's topic and the id in the topic correlates. Either way both sides
// tell requests from responses by the envelope kind.

/** Error codes of an rpc-response (and of the caller's own failures). */
export const RPC_ERROR_CODES = ['UnknownMethod', 'BadParams', 'Expired', 'Failed', 'Timeout', 'UnknownNode'] as const;
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[number];

/** Methods every agent answers, with their params and results (one schema per side). */
export const RpcPingParamsSchema = z.strictObject({}).optional();
export const RpcPingResultSchema = z.strictObject({ pong: z.literal(true), ts: z.number().int().nonnegative() });

export const RpcStatusParamsSchema = z.strictObject({}).optional();
/** What the agent has realized right now: the generation per object, as in its report. */
export const RpcStatusResultSchema = z.strictObject({
  node: NodeNameSchema,
  storeId: z.string().optional(),
  observedGeneration: z.number().int().nonnegative(),
  objects: z.record(z.string(), RealizedObjectSchema),
  connected: z.boolean(),
  agentVersion: z.string(),
  uptimeSeconds: z.number().nonnegative(),
});
export type RpcStatusResult = z.infer<typeof RpcStatusResultSchema>;

export const StatusEnvelopeSchema = envelopeSchema('status', StatusPayloadSchema);
export const DesiredEnvelopeSchema = envelopeSchema('desired', NodeDesiredSchema);
/** The desired envelope without its objects' kind checks (DesiredObjectsMemo does those). */
const DesiredEnvelopeShapeSchema = envelopeSchema('desired', NodeDesiredShapeSchema);
export const ReportedEnvelopeSchema = envelopeSchema('reported', NodeReportedSchema);
export const FlowsEnvelopeSchema = envelopeSchema('flows', FlowRecordBatchSchema);
export const EventEnvelopeSchema = envelopeSchema('event', EventPayloadSchema);
export const RpcRequestEnvelopeSchema = envelopeSchema('rpc-request', RpcRequestPayloadSchema);
export const RpcResponseEnvelopeSchema = envelopeSchema('rpc-response', RpcResponsePayloadSchema);

export type StatusEnvelope = z.infer<typeof StatusEnvelopeSchema>;
export type DesiredEnvelope = z.infer<typeof DesiredEnvelopeSchema>;
export type ReportedEnvelope = z.infer<typeof ReportedEnvelopeSchema>;
export type FlowsEnvelope = z.infer<typeof FlowsEnvelopeSchema>;
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;
export type RpcRequestEnvelope = z.infer<typeof RpcRequestEnvelopeSchema>;
export type RpcResponseEnvelope = z.infer<typeof RpcResponseEnvelopeSchema>;

const CHANNEL_ENVELOPES = {
  status: StatusEnvelopeSchema,
  desired: DesiredEnvelopeSchema,
  reported: ReportedEnvelopeSchema,
  flows: FlowsEnvelopeSchema,
  events: EventEnvelopeSchema,
  rpc: z.union([RpcRequestEnvelopeSchema, RpcResponseEnvelopeSchema]),
} as const satisfies Record<NodeChannel, z.ZodType>;

export type NodeMessage =
  | { channel: 'status'; envelope: StatusEnvelope }
  | { channel: 'desired'; envelope: DesiredEnvelope }
  | { channel: 'reported'; envelope: ReportedEnvelope }
  | { channel: 'flows'; envelope: FlowsEnvelope }
  | { channel: 'events'; envelope: EventEnvelope }
  | { channel: 'rpc'; rpcId: string; envelope: RpcRequestEnvelope | RpcResponseEnvelope };

export class MessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageError';
  }
}

/** Channels on which fields a node adds that this side does not know are dropped, not refused. */
const TOLERANT_CHANNELS: ReadonlySet<NodeChannel> = new Set(['status', 'reported', 'flows', 'events']);

export interface ParseOptions {
  /**
   * A receiver of successive desired documents (the agent): objects unchanged since the last
   * valid document are not checked against their kind again. Same result and same issues as
   * without it; a document it refuses is checked again in full for its issues.
   */
  desiredMemo?: DesiredObjectsMemo;
}

/**
 * Validates a received message against its topic: JSON, the channel's envelope and payload
 * schema, and the envelope's node matching the topic's (a node may only speak for itself).
 */
export function parseNodeMessage(topic: string, payload: string | Uint8Array, opts: ParseOptions = {}): NodeMessage & { node: string; ignoredFields?: string[] } {
  const { node, channel, rpcId } = parseNodeTopic(topic);
  let json: unknown;
  try {
    // MQTT.js hands over Buffers: decoded in place (Buffer.from(buffer) would copy every message first).
    json = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (err) {
    throw new MessageError(`${topic}: payload is not JSON: ${(err as Error).message}`);
  }
  const schema = CHANNEL_ENVELOPES[channel];
  let result = channel === 'desired' && opts.desiredMemo ? parseDesired(json, opts.desiredMemo) : schema.safeParse(json, { reportInput: true });
  let ignoredFields: string[] | undefined;
  // A newer agent may say more than this controller knows (agents can be updated first, or the
  // controller rolled back): what it does not know is dropped and named, the rest still checked.
  // Only in what nodes state about themselves (the payload; the envelope is the protocol and stays
  // strict), never in a desired document (what a box enforces) or rpc.
  if (!result.success && TOLERANT_CHANNELS.has(channel) && result.error.issues.every((i) => i.code === 'unrecognized_keys' && i.path[0] === 'payload')) {
    ignoredFields = [];
    for (const issue of result.error.issues) {
      const holder = issue.path.reduce<unknown>((at, key) => (at as Record<PropertyKey, unknown>)[key], json) as Record<string, unknown>;
      for (const key of (issue as { keys: string[] }).keys) {
        delete holder[key];
        ignoredFields.push(formatPath([...issue.path, key]));
      }
    }
    result = schema.safeParse(json, { reportInput: true });
  }
  if (!result.success) {
    throw new MessageError(formatIssues(result.error.issues).map((p) => `${topic}: ${describeProblem(p)}`).join('\n'));
  }
  const envelope = result.data as { node: string };
  if (envelope.node !== node) throw new MessageError(`${topic}: node: envelope says ${JSON.stringify(envelope.node)}, topic says ${JSON.stringify(node)}`);
  return { node, channel, ...(rpcId === undefined ? {} : { rpcId }), envelope, ...(ignoredFields ? { ignoredFields } : {}) } as NodeMessage & { node: string; ignoredFields?: string[] };
}

/** A desired envelope through the memo: the shape, then only the objects it does not know as valid. */
function parseDesired(json: unknown, memo: DesiredObjectsMemo): ReturnType<typeof DesiredEnvelopeSchema.safeParse> {
  const shape = DesiredEnvelopeShapeSchema.safeParse(json, { reportInput: true });
  if (shape.success && memo.objectsValid(shape.data.payload)) return shape;
  // Refused: the full schema, for exactly the issues (and order) a receiver without a memo reports.
  return DesiredEnvelopeSchema.safeParse(json, { reportInput: true });
}

/** Why a received message was not taken (each side counts these). */
export type IntakeRejection = 'oversized' | 'wrongTopic' | 'malformed';

/**
 * The checks every receiver makes before looking at a message: its size, an empty payload
 * (a retained message being cleared: nothing to do), the topic and the envelope.
 */
export function intakeNodeMessage(
  topic: string,
  payload: Uint8Array,
  maxBytes: number,
  opts: ParseOptions = {},
): { message: NodeMessage & { node: string; ignoredFields?: string[] } } | { empty: true } | { rejected: IntakeRejection; detail: string } {
  if (payload.length > maxBytes) return { rejected: 'oversized', detail: `${payload.length} bytes > ${maxBytes}` };
  if (payload.length === 0) return { empty: true };
  try {
    return { message: parseNodeMessage(topic, payload, opts) };
  } catch (err) {
    if (err instanceof TopicError) return { rejected: 'wrongTopic', detail: err.message };
    if (err instanceof MessageError) return { rejected: 'malformed', detail: err.message };
    throw err;
  }
}
