// Runs Traceflows: when one is created (or its spec changes) the controller allocates a tag,
// asks the receiver's box (if another) and then the sender's box to install the tag's flows —
// the sender also injects the packet —, waits for each box's result over request/response
// (the receivers' collects go out as soon as they listen; an injecting sender's own
// observation comes back with its start's answer), merges them into the status (Antrea's: phase, reason, dataplaneTag, startTime, results per
// node with role) and frees the tag. Statuses are kept in SQLite (status-table.ts): after a
// controller restart a finished trace still reads as it ended; one that was running reads
// Failed with a reason saying why.
import { setTimeout as sleep } from 'node:timers/promises';
import { objectKey } from '../../api/node-state.js';
import {
  DEFAULT_TRACEFLOW_TIMEOUT_SECONDS, TRACEFLOW_RPC, TraceflowCollectResultSchema, TraceflowResolveResultSchema, TraceflowStartResultSchema,
  type TraceflowCollectResult, type TraceflowNodeResult, type TraceflowSpec, type TraceflowStatus, type TraceflowStartParams,
} from '../../api/traceflow.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder, type PhaseSpan } from '../../lib/phases.js';
import type { NodeRegistry } from '../store/nodes.js';
import type { ObjectStore, StoreChange, StoredRecord } from '../store/objects.js';
import type { RpcClient } from '../sync/rpc-client.js';
import { PlanError, planTraceflow, withServiceDestination, type TraceflowPlan } from './plan.js';
import { TagAllocator } from './tags.js';
import type { StatusEntry, TraceflowStatusTable } from './status-table.js';

const log = createLogger('controller.traceflow');
/** One run: planned, the receivers' and then the sender's start, the results collected, the status written. */
const phases = phaseRecorder('controller.traceflow');

/** How long a start or stop request may take (flows in, packet out). */
const START_RPC_MS = 5_000;
/** How long the sender may take to report a packet a receiver already saw arrive. */
const SENDER_GRACE_MS = 2_000;
/** The agent keeps the tag's flows this much longer than the traceflow's timeout. */
const AGENT_GRACE_MS = 2_000;

export const RESTARTED_REASON = 'the controller restarted while this Traceflow was running; create it again';

const isFinal = (r: TraceflowNodeResult | undefined) => {
  const a = r?.observations.at(-1)?.action;
  return a !== undefined && a !== 'Forwarded' && a !== 'Received';
};

export class TraceflowRunner {
  private statuses = new Map<string, StatusEntry>();
  private readonly tags = new TagAllocator();
  /** Status writes in flight (stop waits for them; runs are abandoned). */
  private readonly writes = new Set<Promise<void>>();
  private stopping = false;
  private unsubscribe?: () => void;

  constructor(private readonly ctx: { store: ObjectStore; nodes: NodeRegistry; rpc: RpcClient; table: TraceflowStatusTable }) {}

  async start(): Promise<void> {
    this.unsubscribe = this.ctx.store.onChange((changes) => this.onChanges(changes));
    const loaded = await this.ctx.table.load();
    const live = new Set((await this.ctx.store.list()).filter((r) => r.kind.kind === 'Traceflow').map((r) => `${objectKey(r)}|${r.uid}`));
    for (const [key, e] of loaded) {
      if (this.statuses.has(key)) continue; // created since start
      if (!live.has(`${key}|${e.uid}`)) {
        await this.ctx.table.delete(key);
        continue;
      }
      if (e.status.phase === 'Running') {
        e.status = { ...e.status, phase: 'Failed', reason: RESTARTED_REASON };
        await this.ctx.table.put(key, e);
      }
      this.statuses.set(key, e);
    }
  }

  /** Runs in flight are abandoned (their status stays Running in the table: Failed at the next start). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    await Promise.allSettled([...this.writes]);
  }

  /** The status of a stored Traceflow. */
  status(record: Pick<StoredRecord, 'kind' | 'namespace' | 'name' | 'uid' | 'generation'>): TraceflowStatus {
    const s = this.statuses.get(objectKey(record));
    if (s && s.uid === record.uid && s.generation === record.generation) return s.status;
    return { phase: 'Failed', reason: RESTARTED_REASON };
  }

  private onChanges(changes: StoreChange[]): void {
    for (const c of changes) {
      if (c.record.kind.kind !== 'Traceflow') continue;
      const key = objectKey(c.record);
      if (c.action === 'delete') {
        this.statuses.delete(key);
        this.persist(key);
        continue;
      }
      const prev = this.statuses.get(key);
      if (prev && prev.uid === c.record.uid && prev.generation === c.record.generation) continue;
      const startTime = new Date().toISOString();
      this.statuses.set(key, { uid: c.record.uid, generation: c.record.generation, status: { phase: 'Running', startTime } });
      this.persist(key);
      void this.run(c.record, startTime).catch((err) => log.error({ err, traceflow: key }, 'traceflow run failed'));
    }
  }

  private set(record: StoredRecord, status: TraceflowStatus): void {
    if (this.stopping) return;
    const key = objectKey(record);
    const cur = this.statuses.get(key);
    if (!cur || cur.uid !== record.uid || cur.generation !== record.generation) return; // deleted or respecified meanwhile
    cur.status = status;
    this.persist(key);
  }

  /** Writes (or deletes) the row behind the in-memory status; statements run in call order. */
  private persist(key: string): void {
    const e = this.statuses.get(key);
    const p = (e ? this.ctx.table.put(key, { ...e }) : this.ctx.table.delete(key)).catch((err) => log.warn({ err, traceflow: key }, 'traceflow status not saved'));
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }

  private async run(record: StoredRecord, startTime: string): Promise<void> {
    const spec = record.spec as TraceflowSpec;
    const timeoutMs = (spec.timeout ?? DEFAULT_TRACEFLOW_TIMEOUT_SECONDS) * 1000;
    const deadline = Date.now() + timeoutMs;
    const tag = this.tags.allocate();
    if (tag === undefined) return this.set(record, { phase: 'Failed', reason: 'no free dataplane tag: 63 Traceflows are running; retry when one ends', startTime });
    let plan: TraceflowPlan | undefined;
    const span = phases.begin({ traceflow: objectKey(record), tag });
    try {
      plan = planTraceflow(spec, await this.ctx.nodes.reports());
      if (plan.service) plan = await this.resolveService(spec, plan);
      this.set(record, { phase: 'Running', dataplaneTag: tag, startTime });
      span.mark('plan');
      const status = await this.trace(plan, tag, deadline, timeoutMs, span);
      this.set(record, { ...status, dataplaneTag: tag, startTime });
      span.mark('status');
      span.end();
      log.info({ traceflow: objectKey(record), tag, phase: status.phase, ms: Date.now() - (deadline - timeoutMs) }, 'traceflow finished');
    } catch (err) {
      const reason = err instanceof PlanError ? err.message : `${errorMessage(err)}`;
      this.set(record, { phase: 'Failed', reason, dataplaneTag: tag, startTime });
    } finally {
      if (plan && !this.stopping) await this.stopOn([plan.sender, ...plan.receivers], tag);
      this.tags.release(tag);
    }
  }

  private async trace(plan: TraceflowPlan, tag: number, deadline: number, timeoutMs: number, span: PhaseSpan): Promise<TraceflowStatus> {
    const { rpc } = this.ctx;
    const params = (role: TraceflowStartParams['role'], packet: Pick<TraceflowStartParams, 'inject' | 'live'> = {}): TraceflowStartParams => ({
      tag, role, timeoutMs: timeoutMs + AGENT_GRACE_MS, ...packet, ...(plan.droppedOnly ? { droppedOnly: true } : {}),
    });
    const collect = async (node: string) => {
      const waitMs = Math.max(0, deadline - Date.now());
      return TraceflowCollectResultSchema.parse(await rpc.request(node, TRACEFLOW_RPC.collect, { tag, waitMs }, waitMs + START_RPC_MS));
    };
    // A node whose result came (by collect, which ends its session, or with the sender's start,
    // whose flows went with the observation) needs no stop before the status; run() stops every
    // node at the end anyway.
    const answered = new Set<string>();
    const track = (node: string, p: Promise<TraceflowCollectResult>) => p.then((r) => {
      if (r.done) answered.add(node);
      return r;
    });
    // The receivers listen before the sender injects (or starts tagging). Their collects go out
    // at once, beside the sender's start: each answers as soon as the packet reaches it, not one
    // round trip after the sender's start has answered.
    await Promise.all(plan.receivers.map((n) => this.call(n, TRACEFLOW_RPC.start, params('Receiver'), 'Receiver')));
    span.mark('receiverStart');
    const receiving = plan.receivers.map((n) => track(n, collect(n)));
    for (const p of receiving) p.catch(() => undefined); // awaited below, unless the sender's start fails first
    const started = TraceflowStartResultSchema.safeParse(await this.call(plan.sender, TRACEFLOW_RPC.start, params('Sender', plan.inject ? { inject: plan.inject } : plan.live ? { live: plan.live } : {}), 'Sender'));
    span.mark('senderStart');
    // The sender's own observation, when its start brought it (an older agent's does not): no collect round trip.
    const own = started.success && started.data.result ? { done: true, result: started.data.result, ...(started.data.capturedPacket ? { capturedPacket: started.data.capturedPacket } : {}) } : undefined;

    // Once one box saw the end of the packet's way, the others have nothing more to see: stop them
    // (a drop on the sender; with droppedOnly, a drop on the receiver the sender never reports;
    // a Service's endpoint on one receiver while the other endpoints' nodes wait in vain). The
    // sender's own observation of a packet a receiver already saw is still on its way (packet-ins
    // reach each agent on their own schedule): it gets a moment before it is stopped.
    const nodes = [plan.sender, ...plan.receivers];
    const collects = [track(plan.sender, own ? Promise.resolve(own) : collect(plan.sender)), ...receiving];
    const senderReported = collects[0]!.then(() => undefined, () => undefined);
    const waiting = (list: string[]) => list.filter((n) => !answered.has(n));
    const [senderCollect, ...receiverCollects] = await Promise.all(collects.map(async (pending, i) => {
      const r = await pending;
      if (!isFinal(r.result)) return r;
      const others = nodes.filter((n) => n !== nodes[i]);
      if (i === 0 || plan.droppedOnly) {
        await this.stopOn(waiting(others), tag);
      } else {
        await this.stopOn(waiting(others.filter((n) => n !== plan.sender)), tag);
        const grace = new AbortController();
        await Promise.race([senderReported, sleep(SENDER_GRACE_MS, undefined, { signal: grace.signal }).catch(() => undefined)]);
        grace.abort();
        // Usually the sender has answered by now, and its stop would only add a round trip before the status.
        await this.stopOn(waiting([plan.sender]), tag);
      }
      return r;
    }));
    span.mark('collect');
    const senderResult = senderCollect!.result;
    const capturedPacket = senderCollect!.capturedPacket ?? receiverCollects.find((c) => c.capturedPacket)?.capturedPacket;
    const captured = plan.live && capturedPacket ? { capturedPacket } : {};
    const received = receiverCollects.map((c) => c.result).filter((r): r is TraceflowNodeResult => !!r);
    const receiver = received.find(isFinal) ?? received[0];
    const results = [senderResult, ...received].filter((r): r is TraceflowNodeResult => !!r);
    if (isFinal(senderResult) || isFinal(receiver)) return { phase: 'Succeeded', results, ...captured };
    return { phase: 'Failed', reason: timeoutReason(plan, timeoutMs, senderResult, receiver), results, ...captured };
  }

  /** destination.service: the sender's box knows the Service (the controller does not). */
  private async resolveService(spec: TraceflowSpec, plan: TraceflowPlan): Promise<TraceflowPlan> {
    const answer = TraceflowResolveResultSchema.parse(await this.call(plan.sender, TRACEFLOW_RPC.resolve, plan.service, 'Sender'));
    if ('problem' in answer) throw new PlanError(answer.problem);
    return withServiceDestination(spec, plan, answer.destination, await this.ctx.nodes.reports());
  }

  private async call(node: string, method: string, params: unknown, role: string): Promise<unknown> {
    try {
      return await this.ctx.rpc.request(node, method, params, START_RPC_MS);
    } catch (err) {
      throw new Error(`${role} node ${node}: ${errorMessage(err)}`);
    }
  }

  private async stopOn(nodes: (string | undefined)[], tag: number): Promise<void> {
    await Promise.allSettled(nodes.filter((n): n is string => !!n).map((n) => this.ctx.rpc.request(n, TRACEFLOW_RPC.stop, { tag }, START_RPC_MS)));
  }
}

function timeoutReason(plan: TraceflowPlan, timeoutMs: number, sender?: TraceflowNodeResult, receiver?: TraceflowNodeResult): string {
  const head = `timed out after ${timeoutMs / 1000} s`;
  if (plan.live && plan.droppedOnly && !sender && !receiver) return `${head}: no live packet from ${plan.live.sourcePod.namespace}/${plan.live.sourcePod.name} matching the filter was dropped`;
  if (plan.live && !sender) return `${head}: the source Pod ${plan.live.sourcePod.namespace}/${plan.live.sourcePod.name} sent no live packet matching the filter`;
  if (!sender) return `${head}: the sender node ${plan.sender} saw no traced packet reach a decision point (lost before the output, e.g. its TTL ran out)`;
  const last = sender.observations.at(-1);
  const via = last?.tunnelDstIP ? ` to the tunnel (tunnelDstIP ${last.tunnelDstIP})` : '';
  // Known at once, not after the timeout: nobody was asked to watch for it.
  if (!plan.receivers.length) {
    const what = plan.service ? 'has no endpoint on a Pod any other node reports' : 'is no Pod any node reports';
    return `the sender node ${plan.sender} forwarded the packet${via}, and ${plan.destination} ${what}, so no receiver can observe it`;
  }
  const nodes = plan.receivers.length === 1 ? `the receiver node ${plan.receivers[0]}` : `none of the receiver nodes ${plan.receivers.join(', ')}`;
  if (!receiver) return `${head}: the sender node ${plan.sender} forwarded the packet${via}, but ${nodes} ${plan.receivers.length === 1 ? 'never saw it' : 'saw it'}`;
  return `${head}: no final observation`;
}
