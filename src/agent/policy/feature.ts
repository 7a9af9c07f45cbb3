// The network-policy flows as a Datapath FlowFeature: asks for the node's policies and pod
// ports on every sync, keeps the previous priority/id assignment so unchanged rules keep
// their flows, and exposes the realized rules (conjunction id → rule) for metrics, the flow
// exporter and the reject responder.
import type { FlowFeature } from '../datapath.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { policyFlows, type PolicyFlowInput, type PolicyFlowState, type RealizedRule } from './flows.js';

export class NetworkPolicyFeature implements FlowFeature {
  readonly name = 'networkPolicy';
  private state?: PolicyFlowState;
  private byConjId = new Map<number, RealizedRule>();

  constructor(private readonly source: () => PolicyFlowInput | Promise<PolicyFlowInput>) {}

  async flows(pipeline: Pipeline, cookies: CookieAllocator): Promise<Flow[]> {
    const result = policyFlows(await this.source(), pipeline, cookies, this.state);
    this.state = result.state;
    this.byConjId = new Map(result.realized.map((r) => [r.conjId, r]));
    return result.flows;
  }

  /** Every rule realized by the last sync. */
  realized(): RealizedRule[] {
    return [...this.byConjId.values()];
  }

  /** The rule behind a conjunction id (from reg3/reg5/reg6, ct_label or a packet-in's userdata). */
  rule(conjId: number): RealizedRule | undefined {
    return this.byConjId.get(conjId);
  }
}
