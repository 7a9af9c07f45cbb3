// What an evaluation asks and answers: "what does policy do to a connection from A to B?",
// answered the way the datapath decides it (egress rules at the source's box, ingress rules at
// the destination's), with the deciding rule named as Antrea's NetworkPolicyEvaluation does.
import type { Inventory, InventoryPod } from '../../api/inventory.js';
import type { PolicyObjects } from '../compute/compute.js';
import type { PolicyKind } from '../compute/types.js';

/** A pod by namespace/name (node only to tell apart pods of the same name on two clusters' boxes), or an address outside the pods. */
export interface EvalEndpoint {
  ip?: string;
  namespace?: string;
  pod?: string;
  node?: string;
}

export interface EvalQuery {
  source: EvalEndpoint;
  destination: EvalEndpoint;
  /** Left out: any protocol (the first rule for the two endpoints decides, whatever its ports). */
  protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
  /** Destination port; left out: any port. */
  port?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface EvalPolicyRef {
  /** Antrea's NetworkPolicyReference type names. */
  kind: PolicyKind;
  namespace?: string;
  name: string;
  /** metadata.uid of the policy object, when it has one. */
  uid?: string;
  /** Antrea-native policies: the tier and the policy priority. */
  tier?: string;
  priority?: number;
}

export type EvalAction = 'Allow' | 'Drop' | 'Reject';
/**
 * policy: a rule of an Antrea-native policy (outside the baseline tier) or of a K8s
 * NetworkPolicy; k8s-isolation: the pod is selected by a K8s NetworkPolicy for the direction and
 * no rule allowed the connection; baseline: a rule of the baseline tier; no-policy: no rule
 * matched and the pod is not isolated (allowed).
 */
export type DecidedBy = 'policy' | 'k8s-isolation' | 'no-policy' | 'baseline';
export type EvalDirection = 'In' | 'Out';

/** A rule that matched without deciding: a Pass, which skips the remaining Antrea tiers. */
export interface EvalPassed {
  policy: EvalPolicyRef;
  ruleIndex: number;
  ruleName: string;
}

/** One side's decision: the egress rules of the source pod, or the ingress rules of the destination pod. */
export interface EvalStep {
  action: EvalAction;
  decidedBy: DecidedBy;
  /** The deciding rule's policy; for k8s-isolation, the first isolating policy (by kind, namespace, name). */
  policy?: EvalPolicyRef;
  /** Index in the policy's spec.ingress / spec.egress; -1 for k8s-isolation (as Antrea reports it). */
  ruleIndex?: number;
  ruleName?: string;
  /** Pass rules crossed before the decision. */
  passed?: EvalPassed[];
  /** k8s-isolation: every K8s NetworkPolicy that isolates the pod in this direction. */
  isolatedBy?: EvalPolicyRef[];
}

export interface EvalVerdict {
  /** Final effect on the connection: the egress side's if it is not Allow, else the ingress side's. */
  action: EvalAction;
  decidedBy: DecidedBy;
  policy?: EvalPolicyRef;
  direction?: EvalDirection;
  ruleIndex?: number;
  ruleName?: string;
  /** Absent when the source is no pod (traffic from outside the pods has no egress rules). */
  egress?: EvalStep;
  /** Absent when the destination is no pod. */
  ingress?: EvalStep;
}

/** The endpoint as resolved: the pod found (if any) and the address matched against peers. */
export interface ResolvedEndpoint {
  ip: string;
  pod?: InventoryPod;
}

/** Everything evaluation reads: the stored policy objects and the inventory they apply to. */
export interface PolicyWorld {
  objects: PolicyObjects;
  inventory: Inventory;
  /**
   * Pod and namespace identities as PodIndex takes them; the controller's fleet view keys both
   * by node too (two clusters' boxes may host pods of the same namespace/name).
   */
  ids?: { pod?: (pod: InventoryPod) => string; namespace?: (pod: InventoryPod) => string };
}

/** A query the world cannot answer: the field (zod-style path) and why. */
export class EvalError extends Error {
  constructor(
    readonly path: string,
    readonly reason: 'NotFound' | 'Ambiguous' | 'Invalid',
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'EvalError';
  }
}
