// The controller's side of request/response: request(node, method, params, timeout) publishes an
// rpc-request on the node's rpc topic and resolves with the node's answer, or rejects with an
// RpcError (the node's error code, Timeout, UnknownNode). Over MQTT 5 the request carries
// responseTopic, correlationData and a message expiry; over 3.1.1 the topic's id correlates.
import { randomBytes } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import {
  ENVELOPE_VERSION, allNodesTopic, intakeNodeMessage, rpcTopic, topicChannel, type RpcErrorCode, type RpcRequestEnvelope,
} from '../../api/mqtt.js';
import { createLogger } from '../../lib/log.js';
import type { NodeRegistry } from '../store/nodes.js';

const log = createLogger('controller.rpc');

export class RpcError extends Error {
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- names the known codes for readers; a newer agent may send others
  constructor(readonly code: RpcErrorCode | string, message: string) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface RpcClientContext {
  client: MqttClient;
  nodes: NodeRegistry;
  /** 5 when the broker connection is MQTT 5 (properties are sent); 4 otherwise. */
  protocolVersion: 4 | 5;
  maxMessageBytes: number;
}

interface Pending {
  node: string;
  method: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export const DEFAULT_RPC_TIMEOUT_MS = 5_000;
const SETTLED_KEEP_MS = 60_000;

export class RpcClient {
  private readonly pending = new Map<string, Pending>();
  /** Requests settled in the last minute, id → node: a late answer is expected, not a forgery. */
  private readonly settled = new Map<string, { node: string; at: number }>();
  readonly counters = { sent: 0, answered: 0, timedOut: 0, unmatched: 0 };
  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => this.handle(topic, payload, packet);
  private readonly onConnect = () => void this.subscribe().catch((err) => log.warn({ err }, 'rpc subscribe failed'));

  constructor(private readonly ctx: RpcClientContext) {}

  async start(): Promise<void> {
    this.ctx.client.on('message', this.onMessage);
    this.ctx.client.on('connect', this.onConnect);
    await this.subscribe();
  }

  stop(): void {
    this.ctx.client.off('message', this.onMessage);
    this.ctx.client.off('connect', this.onConnect);
    for (const [id, p] of this.pending) this.settle(id, p, new RpcError('Failed', 'the controller is stopping'));
  }

  private async subscribe(): Promise<void> {
    // noLocal (MQTT 5): our own requests do not come back to us.
    await this.ctx.client.subscribeAsync(allNodesTopic('rpc'), { qos: 1, ...(this.ctx.protocolVersion === 5 ? { nl: true } : {}) });
  }

  /** Asks `node` to run `method`; resolves with its result. */
  async request(node: string, method: string, params?: unknown, timeoutMs = DEFAULT_RPC_TIMEOUT_MS): Promise<unknown> {
    if (!(await this.ctx.nodes.exists(node))) throw new RpcError('UnknownNode', `node ${node} is not registered`);
    const id = randomBytes(12).toString('base64url');
    const topic = rpcTopic(node, id);
    const deadline = Date.now() + timeoutMs;
    const envelope: RpcRequestEnvelope = {
      v: ENVELOPE_VERSION, node, ts: Date.now(), kind: 'rpc-request',
      payload: { method, ...(params !== undefined ? { params } : {}), deadline },
    };
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.counters.timedOut++;
        this.settle(id, this.pending.get(id), new RpcError('Timeout', `node ${node} did not answer ${method} within ${timeoutMs} ms (offline, or an agent without request/response)`));
      }, timeoutMs);
      this.pending.set(id, { node, method, resolve, reject, timer });
    });
    const v5 = this.ctx.protocolVersion === 5;
    try {
      await this.ctx.client.publishAsync(topic, JSON.stringify(envelope), {
        qos: 1,
        ...(v5 ? { properties: { responseTopic: topic, correlationData: Buffer.from(id), messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)) } } : {}),
      });
      this.counters.sent++;
    } catch (err) {
      this.settle(id, this.pending.get(id), new RpcError('Failed', `cannot send the request to ${node}: ${(err as Error).message}`));
    }
    return answer;
  }

  private handle(topic: string, payload: Buffer, packet: IPublishPacket): void {
    // Reports, statuses, events and flow batches are the report receiver's: it parses and checks them, not this too.
    if (topicChannel(topic) !== 'rpc') return;
    const intake = intakeNodeMessage(topic, payload, this.ctx.maxMessageBytes);
    if (!('message' in intake) || intake.message.channel !== 'rpc') return; // other channels are the report receiver's
    const msg = intake.message;
    if (msg.envelope.kind !== 'rpc-response') return; // our own request, over MQTT 3.1.1
    const id = packet.properties?.correlationData?.toString('utf8') ?? msg.rpcId;
    const p = this.pending.get(id);
    // The answer must come from the node asked (the ACL already keeps nodes in their own topics).
    if (!p || p.node !== msg.node) {
      this.counters.unmatched++;
      log.debug({ topic, id }, 'rpc response for no pending request (late, or not ours)');
      return;
    }
    this.counters.answered++;
    const r = msg.envelope.payload;
    if (r.ok) this.settle(id, p, undefined, r.result);
    else this.settle(id, p, new RpcError(r.error.code, `${p.node}: ${r.error.code}: ${r.error.message}`));
  }

  /**
   * Whether `node` may answer request `id`: this controller sent it to that node, and waits for
   * it or gave up on it less than a minute ago (the embedded broker asks, see broker/embedded.ts).
   */
  known(node: string, id: string): boolean {
    const p = this.pending.get(id) ?? this.settled.get(id);
    return p?.node === node;
  }

  private settle(id: string, p: Pending | undefined, err?: Error, result?: unknown): void {
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    const now = Date.now();
    this.settled.set(id, { node: p.node, at: now });
    // Oldest first in the map: drop what is past the minute, and never keep more than 10 000.
    for (const [k, v] of this.settled) {
      if (v.at > now - SETTLED_KEEP_MS && this.settled.size <= 10_000) break;
      this.settled.delete(k);
    }
    if (err) p.reject(err);
    else p.resolve(result);
  }
}
