// The network-policy flows as a Datapath FlowFeature: asks for the node's policies and pod
// ports on every sync, keeps the previous priority/id assignment so unchanged rules keep
// their flows, and exposes the realized rules (conjunction id → rule) for metrics, the flow
// exporter and the reject responder. Its Flow objects stay the same while its inputs do (a
// Service or Egress change syncs the datapath too), and the unchanged flows of a rebuild keep
// theirs, so the bridge plans only the flows that changed (flow-memo.ts).
import type { FlowFeature } from '../datapath.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import { FlowInterner, LastResult } from '../ovs/flow-memo.js';
import type { Pipeline } from '../ovs/pipeline.js';
import { policyFlows, type PolicyFlowInput, type PolicyFlowState, type RealizedRule } from './flows.js';

export class NetworkPolicyFeature implements FlowFeature {
  readonly name = 'networkPolicy';
  readonly keepsFlows = true;
  private state?: PolicyFlowState;
  private byConjId = new Map<number, RealizedRule>();
  private readonly last = new LastResult<Flow[]>();
  private readonly interner = new FlowInterner();

  constructor(private readonly source: () => PolicyFlowInput | Promise<PolicyFlowInput>) {}

  async flows(pipeline: Pipeline, cookies: CookieAllocator): Promise<Flow[]> {
    const input = await this.source();
    return this.last.get([pipeline, cookies, ...inputKey(input)], () => {
      const result = policyFlows(input, pipeline, cookies, this.state);
      this.state = result.state;
      this.byConjId = new Map(result.realized.map((r) => [r.conjId, r]));
      return this.interner.intern(result.flows);
    });
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

/**
 * What policyFlows reads of its input, as values to compare with ===: the node's rule set as
 * an object (the computation keeps it while nothing in it changes), the rest by content — the
 * ports, the addresses its fqdn peers resolve to now, the frontends its toServices name.
 */
function inputKey(input: PolicyFlowInput): unknown[] {
  const { rules } = input.policies;
  let fqdns = '';
  let services = '';
  for (const r of rules) {
    if (r.peers.fqdns?.length) fqdns += `${r.id}=${(input.fqdnAddresses?.(r.peers.fqdns) ?? []).join(',')};`;
    for (const s of r.peers.toServices ?? []) {
      const name = `${s.namespace}/${s.name}`;
      services += `${name}=${JSON.stringify(input.serviceFrontends?.get(name) ?? [])};`;
    }
  }
  const ports = [...input.ofports].map(([k, p]) => `${k}=${p}`).join(',');
  return [input.policies, input.denyAccounting ?? false, ports, fqdns, services];
}
