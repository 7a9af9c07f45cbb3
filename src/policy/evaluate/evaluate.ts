// NetworkPolicy evaluation: which rule decides a connection between two endpoints, and with
// what effect. Answers the question of Antrea's `antctl query networkpolicyevaluation`, but by
// replaying the datapath's own decision rather than ranking candidate rules: the computed rules
// (src/policy/compute, the same NodePolicySet the agent turns into flows) are walked in the order
// the flow tables apply them —
//
//   egress, at the source pod's box       ingress, at the destination pod's box
//   1 Antrea tiers (tier, policy priority, rule index): Allow/Drop/Reject decide, Pass skips to 2
//   2 K8s NetworkPolicy rules: any match allows
//   3 K8s isolation: a pod a K8s NetworkPolicy selects for the direction is dropped here
//   4 baseline tier rules
//   5 nothing matched: allowed
//
// — and the connection passes only if both sides allow it (a packet dropped on egress never
// reaches the ingress tables). The world is indexed once (rules per pod and direction, pods by
// name and IP, peer sets compiled lazily), so a query costs a walk of the rules that apply to
// its two pods.
import { podKey, type InventoryPod } from '../../api/inventory.js';
import { PolicyComputer, compareRules } from '../compute/compute.js';
import { isPolicyPod } from '../compute/pod-index.js';
import type { Direction, InternalRule, PolicyError, PolicyRef } from '../compute/types.js';
import { parseAddress, peersContain, servicesMatch, type Address, type Connection } from './match.js';
import { EvalError, type EvalEndpoint, type EvalPassed, type EvalPolicyRef, type EvalQuery, type EvalStep, type EvalVerdict, type PolicyWorld, type ResolvedEndpoint } from './types.js';

export * from './types.js';

/** A pod's rules for one direction, split by the flow table they land in (each in evaluation order). */
interface LayeredRules {
  antrea: InternalRule[];
  k8s: InternalRule[];
  baseline: InternalRule[];
}
type PodRules = Record<Direction, LayeredRules>;

const emptyLayers = (): LayeredRules => ({ antrea: [], k8s: [], baseline: [] });
const NO_RULES: PodRules = { ingress: emptyLayers(), egress: emptyLayers() };

interface SideResult {
  step: EvalStep;
  /** The deciding rule, when a rule decided (to rank two allowing sides). */
  rule?: InternalRule;
}

export class PolicyEvaluator {
  /** Policies the computation refused: they contribute no rule, on a box as here. */
  readonly errors: readonly PolicyError[];
  /** `node|namespace/name` → the pod's rules. */
  private readonly rules = new Map<string, PodRules>();
  /** `node|namespace/name` of every pod a K8s NetworkPolicy isolates, with the policies. */
  private readonly isolated: Record<Direction, Map<string, PolicyRef[]>>;
  private readonly byName = new Map<string, InventoryPod[]>();
  private readonly byIP = new Map<string, InventoryPod[]>();
  private readonly byPod = new Map<InventoryPod, { rules: PodRules; isolated: Record<Direction, PolicyRef[] | undefined> }>();

  /**
   * `computer`: a PolicyComputer already holding this world's inventory (a box keeps one, fed
   * every inventory change); compute() is called on it with the world's objects. Without it the
   * evaluator computes from scratch.
   */
  constructor(world: PolicyWorld, opts: { computer?: PolicyComputer } = {}) {
    const computer = opts.computer ?? new PolicyComputer(world.inventory, world.ids);
    const result = computer.compute(world.objects);
    this.errors = result.errors;
    this.isolated = computer.isolatingPolicies();
    for (const [node, set] of result.nodes) {
      for (const rule of set.rules) {
        for (const t of rule.targets) {
          const key = `${node}|${t.key}`;
          let pr = this.rules.get(key);
          if (!pr) this.rules.set(key, (pr = { ingress: emptyLayers(), egress: emptyLayers() }));
          pr[rule.direction][rule.layer].push(rule);
        }
      }
    }
    for (const pod of world.inventory.pods.values()) {
      push(this.byName, podKey(pod), pod);
      if (!isPolicyPod(pod)) continue;
      for (const ip of new Set([...pod.ips, pod.ip!])) push(this.byIP, ip, pod);
      // By pod object too: a query's walk starts from the pod it resolved, without building a key.
      const key = `${pod.nodeName ?? ''}|${podKey(pod)}`;
      this.byPod.set(pod, {
        rules: this.rules.get(key) ?? NO_RULES,
        isolated: { ingress: this.isolated.ingress.get(key), egress: this.isolated.egress.get(key) },
      });
    }
  }

  evaluate(q: EvalQuery): EvalVerdict {
    const src = this.resolve(q.source, 'source');
    const dst = this.resolve(q.destination, 'destination');
    const srcAddr = src.addr ?? parseAddress(src.ip)!;
    const dstAddr = dst.addr ?? parseAddress(dst.ip)!;
    // The query's optional fields are the connection's (an absent one is a wildcard).
    const conn: Connection = q;
    const egress = src.pod && isPolicyPod(src.pod) ? this.side('egress', src.pod, dstAddr, conn) : undefined;
    const ingress = dst.pod && isPolicyPod(dst.pod) ? this.side('ingress', dst.pod, srcAddr, conn) : undefined;

    // The first side that does not allow decides; when both allow, the side whose rule comes
    // first in evaluation order names the policy (as Antrea's answer ranks them), egress on a tie.
    let chosen: { side: SideResult; direction: 'Out' | 'In' } | undefined;
    if (egress && egress.step.action !== 'Allow') chosen = { side: egress, direction: 'Out' };
    else if (ingress && ingress.step.action !== 'Allow') chosen = { side: ingress, direction: 'In' };
    else if (egress?.rule && (!ingress?.rule || compareRules(egress.rule, ingress.rule) <= 0)) chosen = { side: egress, direction: 'Out' };
    else if (ingress?.rule) chosen = { side: ingress, direction: 'In' };

    const verdict: EvalVerdict = chosen
      ? { ...pick(chosen.side.step), direction: chosen.direction }
      : { action: 'Allow', decidedBy: 'no-policy' };
    if (egress) verdict.egress = egress.step;
    if (ingress) verdict.ingress = ingress.step;
    return verdict;
  }

  /** The endpoint's pod (by name, or by address among the pods) and the address peers are matched on. */
  resolve(ep: EvalEndpoint, path: string): ResolvedEndpoint & { addr?: Address } {
    const addr = ep.ip !== undefined ? parseAddress(ep.ip) : undefined;
    if (ep.ip !== undefined && !addr) throw new EvalError(`${path}.ip`, 'Invalid', `${JSON.stringify(ep.ip)} is not an IP address`);
    if (ep.pod !== undefined || ep.namespace !== undefined) {
      if (!ep.pod) throw new EvalError(`${path}.pod`, 'Invalid', 'required with namespace');
      const key = `${ep.namespace ?? 'default'}/${ep.pod}`;
      const pods = (this.byName.get(key) ?? []).filter((p) => ep.node === undefined || p.nodeName === ep.node);
      if (!pods.length) throw new EvalError(`${path}.pod`, 'NotFound', `Pod ${key} not found${ep.node !== undefined ? ` on node ${ep.node}` : ''}`);
      const pod = one(pods, `${path}.pod`, `Pod ${key}`);
      if (addr) return { ip: ep.ip!, pod, addr };
      if (!pod.ip) throw new EvalError(`${path}.pod`, 'Invalid', `Pod ${key} has no IP yet`);
      return { ip: pod.ip, pod };
    }
    if (ep.ip === undefined || !addr) throw new EvalError(path, 'Invalid', 'a pod (namespace and pod) or an ip is required');
    let pods = this.byIP.get(ep.ip);
    if (pods && ep.node !== undefined) pods = pods.filter((p) => p.nodeName === ep.node);
    return pods?.length ? { ip: ep.ip, pod: one(pods, `${path}.ip`, `address ${ep.ip}`), addr } : { ip: ep.ip, addr };
  }

  private side(dir: Direction, pod: InventoryPod, peer: Address, conn: Connection): SideResult {
    const indexed = this.byPod.get(pod);
    const layers = (indexed?.rules ?? NO_RULES)[dir];
    let passed: EvalPassed | undefined;
    const decided = (step: EvalStep, rule?: InternalRule): SideResult => {
      if (passed) step.passed = [passed];
      return rule ? { step, rule } : { step };
    };

    for (const r of layers.antrea) {
      if (!matches(r, peer, conn)) continue;
      if (r.action === 'Pass') {
        // The datapath jumps to the K8s table: the remaining Antrea tiers are skipped.
        passed = { policy: ref(r), ruleIndex: r.order.ruleIndex, ruleName: r.ruleName };
        break;
      }
      return decided(ruleStep(r, 'policy'), r);
    }
    for (const r of layers.k8s) if (matches(r, peer, conn)) return decided(ruleStep(r, 'policy'), r);
    const isolatedBy = indexed?.isolated[dir];
    if (isolatedBy?.length) {
      const refs = isolatedBy.map((p) => evalRef(p));
      return decided({ action: 'Drop', decidedBy: 'k8s-isolation', policy: refs[0]!, ruleIndex: -1, isolatedBy: refs });
    }
    for (const r of layers.baseline) {
      // The schema refuses Pass in the baseline tier; were one here, it would decide nothing.
      if (r.action !== 'Pass' && matches(r, peer, conn)) return decided(ruleStep(r, 'baseline'), r);
    }
    return decided({ action: 'Allow', decidedBy: 'no-policy' });
  }
}

const matches = (r: InternalRule, peer: Address, conn: Connection): boolean => servicesMatch(r.services, conn) && peersContain(r.peers, peer);

function ruleStep(r: InternalRule, decidedBy: 'policy' | 'baseline'): EvalStep {
  return { action: r.action as EvalStep['action'], decidedBy, policy: ref(r), ruleIndex: r.order.ruleIndex, ruleName: r.ruleName };
}

function ref(r: InternalRule): EvalPolicyRef {
  const out = evalRef(r.policy);
  if (r.layer !== 'k8s') {
    out.tier = r.tier;
    out.priority = r.order.policyPriority;
  }
  return out;
}

function evalRef(p: PolicyRef): EvalPolicyRef {
  return { kind: p.kind, ...(p.namespace !== undefined ? { namespace: p.namespace } : {}), name: p.name, ...(p.uid !== undefined ? { uid: p.uid } : {}) };
}

/** The verdict's summary fields from the deciding step. */
function pick(step: EvalStep): EvalVerdict {
  const v: EvalVerdict = { action: step.action, decidedBy: step.decidedBy };
  if (step.policy) v.policy = step.policy;
  if (step.ruleIndex !== undefined) v.ruleIndex = step.ruleIndex;
  if (step.ruleName !== undefined) v.ruleName = step.ruleName;
  return v;
}

function one(pods: InventoryPod[], path: string, what: string): InventoryPod {
  if (pods.length > 1) {
    const nodes = pods.map((p) => p.nodeName ?? '?').join(', ');
    throw new EvalError(path, 'Ambiguous', `${what} is on several nodes (${nodes}): name the node`);
  }
  return pods[0]!;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
