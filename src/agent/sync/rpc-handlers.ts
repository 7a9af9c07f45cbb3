// The agent's side of request/response: a registry of methods (ping and status here; Traceflow
// registers its own later) and the handling of one request: deadline, method lookup, params
// checked by the method's schema, the answer published on the response topic — which must be
// one of this node's own rpc topics — with the request's correlation data.
import type { z } from 'zod';
import {
  ENVELOPE_VERSION, parseNodeTopic, type RpcErrorCode, type RpcRequestEnvelope, type RpcResponseEnvelope, type RpcResponsePayload,
} from '../../api/mqtt.js';
import { describeProblem, formatIssues } from '../../api/issues.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';

const log = createLogger('agent.rpc');

/** A request is dropped only this long after its deadline: box clocks may be off by that much. */
export const CLOCK_SKEW_MS = 30_000;

export interface RpcMethod<P extends z.ZodType = z.ZodType> {
  params: P;
  handle(params: z.infer<P>): Promise<unknown>;
}

/** MQTT 5 properties of a request (absent over MQTT 3.1.1). */
export interface RpcRequestProperties {
  responseTopic?: string;
  correlationData?: Buffer;
}

export interface RpcReply {
  topic: string;
  envelope: RpcResponseEnvelope;
  correlationData?: Buffer;
}

export class RpcHandlers {
  private readonly methods = new Map<string, RpcMethod>();
  readonly counters = { answered: 0, failed: 0, expired: 0, refusedResponseTopic: 0 };

  constructor(private readonly node: string) {}

  register<P extends z.ZodType>(name: string, method: RpcMethod<P>): void {
    if (this.methods.has(name)) throw new Error(`rpc method ${name} is already registered`);
    this.methods.set(name, method as unknown as RpcMethod);
  }

  get names(): string[] {
    return [...this.methods.keys()].sort();
  }

  /** The reply to send, or undefined when none may be sent (expired, or a response topic not ours). */
  async handle(topic: string, request: RpcRequestEnvelope, props: RpcRequestProperties = {}): Promise<RpcReply | undefined> {
    const replyTopic = props.responseTopic ?? topic;
    if (!this.ownRpcTopic(replyTopic)) {
      this.counters.refusedResponseTopic++;
      log.warn({ topic, responseTopic: replyTopic }, 'rpc request refused: the response topic is not one of this node\'s rpc topics');
      return undefined;
    }
    const { method, params, deadline } = request.payload;
    if (deadline !== undefined && Date.now() > deadline + CLOCK_SKEW_MS) {
      // The caller stopped waiting (e.g. a request queued while this box was offline).
      this.counters.expired++;
      log.info({ method, late: Date.now() - deadline }, 'rpc request expired before it was handled; no answer');
      return undefined;
    }
    const payload = await this.call(method, params);
    if (payload.ok) this.counters.answered++;
    else this.counters.failed++;
    const envelope: RpcResponseEnvelope = { v: ENVELOPE_VERSION, node: this.node, ts: Date.now(), kind: 'rpc-response', payload };
    return { topic: replyTopic, envelope, ...(props.correlationData ? { correlationData: props.correlationData } : {}) };
  }

  private async call(name: string, params: unknown): Promise<RpcResponsePayload> {
    const method = this.methods.get(name);
    if (!method) return fail('UnknownMethod', `unknown method ${JSON.stringify(name)} (this agent answers ${this.names.join(', ')})`);
    const parsed = method.params.safeParse(params, { reportInput: true });
    if (!parsed.success) return fail('BadParams', formatIssues(parsed.error.issues, ['params']).map(describeProblem).join('; '));
    try {
      return { ok: true, result: await method.handle(parsed.data) };
    } catch (err) {
      log.warn({ method: name, err: errorMessage(err) }, 'rpc method failed');
      return fail('Failed', errorMessage(err));
    }
  }

  private ownRpcTopic(topic: string): boolean {
    try {
      const t = parseNodeTopic(topic);
      return t.node === this.node && t.channel === 'rpc';
    } catch {
      return false;
    }
  }
}

function fail(code: RpcErrorCode, message: string): RpcResponsePayload {
  return { ok: false, error: { code, message } };
}
