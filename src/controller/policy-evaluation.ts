// POST /api/v1/networkpolicyevaluation on the controller: the stored policy objects and the
// inventories the nodes report make the world (fleet-inventory.ts, as the span sees it); the
// shared evaluator (src/policy/evaluate) answers, and the answer is put in Antrea's
// NetworkPolicyEvaluation response shape. The evaluator is kept while neither the store's
// revision nor any reported inventory changes, so repeated queries cost a walk of two pods' rules.
import { qualifiedKind, type ManifestObject } from '../api/kinds.js';
import type { NodeReported } from '../api/node-state.js';
import type { NetworkPolicyEvaluationRequest, NetworkPolicyEvaluationResponse, NetworkPolicyReference, EvalStepView } from '../api/policy-evaluation.js';
import { policyObjectsOf } from '../policy/compute/compute.js';
import { EvalError, PolicyEvaluator, type EvalPolicyRef, type EvalStep, type EvalVerdict, type ResolvedEndpoint } from '../policy/evaluate/evaluate.js';
import { FLEET_IDS, fleetInventory } from './fleet-inventory.js';
import { COMPUTE_KINDS } from './policy-span.js';
import type { NodeRegistry } from './store/nodes.js';
import type { ObjectStore } from './store/objects.js';

export { EvalError };

export class PolicyEvaluation {
  private cached?: { key: string; evaluator: PolicyEvaluator };

  constructor(
    private readonly store: ObjectStore,
    private readonly nodes: Pick<NodeRegistry, 'names' | 'reports'>,
  ) {}

  /** Throws EvalError for an endpoint the world does not know (a pod no node reports, a name on two nodes). */
  async evaluate(req: NetworkPolicyEvaluationRequest): Promise<NetworkPolicyEvaluationResponse> {
    const evaluator = await this.evaluator();
    const entity = (e: NetworkPolicyEvaluationRequest['source']) => ({
      ...(e.pod ? { namespace: e.pod.namespace, pod: e.pod.name } : {}),
      ...(e.ip !== undefined ? { ip: e.ip } : {}),
      ...(e.node !== undefined ? { node: e.node } : {}),
    });
    const source = evaluator.resolve(entity(req.source), 'source');
    const destination = evaluator.resolve(entity(req.destination), 'destination');
    const verdict = evaluator.evaluate({
      source: resolvedQuery(source), destination: resolvedQuery(destination),
      ...(req.protocol !== undefined ? { protocol: req.protocol } : {}),
      ...(req.port !== undefined ? { port: req.port } : {}),
      ...(req.icmpType !== undefined ? { icmpType: req.icmpType } : {}),
      ...(req.icmpCode !== undefined ? { icmpCode: req.icmpCode } : {}),
    });
    const errors = evaluator.errors.map((e) => `${e.policy.kind} ${e.policy.namespace ? `${e.policy.namespace}/` : ''}${e.policy.name}: ${e.path ? `${e.path}: ` : ''}${e.message}`);
    return toResponse(verdict, source, destination, errors);
  }

  private async evaluator(): Promise<PolicyEvaluator> {
    const [revision, reports, names] = await Promise.all([this.store.revision(), this.nodes.reports(), this.nodes.names()]);
    const inventories: [string, NodeReported['inventory']][] = [...reports].map(([node, r]) => [node, r.inventory]);
    const key = `${revision}|${names.join(',')}|${JSON.stringify(inventories)}`;
    if (this.cached?.key === key) return this.cached.evaluator;
    const records = (await this.store.list()).filter((r) => COMPUTE_KINDS.has(qualifiedKind(r.kind)));
    const manifests = records.map((r) => ({
      apiVersion: r.apiVersion, kind: r.kind.kind,
      metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}), uid: r.uid },
      spec: r.spec,
    }) as ManifestObject);
    const evaluator = new PolicyEvaluator({ objects: policyObjectsOf(manifests), inventory: fleetInventory(inventories, names), ids: FLEET_IDS });
    this.cached = { key, evaluator };
    return evaluator;
  }
}

/** The resolved endpoint as a query: by its pod on its node (no second lookup can differ), else by address. */
function resolvedQuery(r: ResolvedEndpoint) {
  return r.pod ? { ip: r.ip, namespace: r.pod.namespace, pod: r.pod.name, ...(r.pod.nodeName ? { node: r.pod.nodeName } : {}) } : { ip: r.ip };
}

function policyRef(p: EvalPolicyRef): NetworkPolicyReference {
  return {
    type: p.kind, ...(p.namespace !== undefined ? { namespace: p.namespace } : {}), name: p.name,
    ...(p.uid !== undefined ? { uid: p.uid } : {}), ...(p.tier !== undefined ? { tier: p.tier } : {}), ...(p.priority !== undefined ? { priority: p.priority } : {}),
  };
}

function stepView(s: EvalStep): EvalStepView {
  return {
    action: s.action, decidedBy: s.decidedBy,
    ...(s.policy ? { networkPolicy: policyRef(s.policy) } : {}),
    ...(s.ruleIndex !== undefined ? { ruleIndex: s.ruleIndex } : {}),
    ...(s.ruleName !== undefined ? { ruleName: s.ruleName } : {}),
    ...(s.passed ? { passed: s.passed.map((p) => ({ networkPolicy: policyRef(p.policy), ruleIndex: p.ruleIndex, ruleName: p.ruleName })) } : {}),
    ...(s.isolatedBy ? { isolatedBy: s.isolatedBy.map(policyRef) } : {}),
  };
}

const entityView = (r: ResolvedEndpoint) => ({
  ip: r.ip,
  ...(r.pod ? { pod: { namespace: r.pod.namespace, name: r.pod.name } } : {}),
  ...(r.pod?.nodeName ? { node: r.pod.nodeName } : {}),
});

function toResponse(v: EvalVerdict, source: ResolvedEndpoint, destination: ResolvedEndpoint, errors: string[]): NetworkPolicyEvaluationResponse {
  return {
    action: v.action,
    decidedBy: v.decidedBy,
    message: describeVerdict(v, source, destination),
    ...(v.policy ? { networkPolicy: policyRef(v.policy) } : {}),
    ...(v.ruleIndex !== undefined ? { ruleIndex: v.ruleIndex } : {}),
    ...(v.direction ? { rule: { direction: v.direction, ...(v.ruleName !== undefined ? { name: v.ruleName } : {}), action: v.action } } : {}),
    source: entityView(source),
    destination: entityView(destination),
    ...(v.egress ? { egress: stepView(v.egress) } : {}),
    ...(v.ingress ? { ingress: stepView(v.ingress) } : {}),
    ...(errors.length ? { policyErrors: errors } : {}),
  };
}

const KIND_WORDS = {
  K8sNetworkPolicy: 'K8s NetworkPolicy',
  AntreaClusterNetworkPolicy: 'ClusterNetworkPolicy',
  AntreaNetworkPolicy: 'Antrea NetworkPolicy',
  ClusterNetworkPolicy: 'ClusterNetworkPolicy.policy.networking.k8s.io',
  AdminNetworkPolicy: 'AdminNetworkPolicy',
  BaselineAdminNetworkPolicy: 'BaselineAdminNetworkPolicy',
} as const;
const name = (p: EvalPolicyRef) => `${KIND_WORDS[p.kind]} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`;
const who = (r: ResolvedEndpoint) => (r.pod ? `${r.pod.namespace}/${r.pod.name}` : r.ip);

/** One sentence: the effect, and the rule, the isolation or the absence of policy behind it. */
export function describeVerdict(v: EvalVerdict, source: ResolvedEndpoint, destination: ResolvedEndpoint): string {
  const side = v.direction === 'Out' ? `egress of ${who(source)}` : `ingress of ${who(destination)}`;
  switch (v.decidedBy) {
    case 'no-policy':
      return `${v.action}: no rule applies to this connection and neither pod is isolated`;
    case 'k8s-isolation':
      return `${v.action}: ${side} is isolated by ${name(v.policy!)} (K8s NetworkPolicy isolation) and no rule allows the connection`;
    case 'baseline':
    case 'policy': {
      const rule = `rule ${v.ruleIndex}${v.ruleName ? ` (${v.ruleName})` : ''}`;
      const where = v.policy!.tier ? ` in tier ${v.policy!.tier}${v.decidedBy === 'baseline' ? ' (baseline)' : ''}, priority ${v.policy!.priority}` : '';
      return `${v.action} by ${rule} of ${name(v.policy!)}${where}, on the ${side}`;
    }
  }
}
