// Antrea-native policies: ClusterNetworkPolicy (acnp, cluster-scoped) and NetworkPolicy
// (anp/annp, namespaced), crd.antrea.io. Rules here are the ones Antrea's CRD schema and
// admission webhook check without looking at other objects (tier existence is the controller's).
import { z } from 'zod';
import { ConditionSchema, ObjectMetaSchema } from './meta.js';
import {
  AntreaPortSchema,
  ClusterAppliedToSchema,
  ClusterEgressPeerSchema,
  ClusterIngressPeerSchema,
  EgressProtocolSchema,
  IngressProtocolSchema,
  L7ProtocolSchema,
  NamespacedAppliedToSchema,
  NamespacedEgressPeerSchema,
  NamespacedIngressPeerSchema,
  ClusterServiceReferenceSchema,
  NamespacedServiceReferenceSchema,
} from './antrea-peer.js';
import { BASELINE_TIER, TierReferenceSchema, effectiveTierName } from './tier.js';
import { checkNodeAppliedTo } from './host-policy.js';

export const ANTREA_POLICY_API_VERSIONS = ['crd.antrea.io/v1alpha1', 'crd.antrea.io/v1beta1'] as const;

export const RuleActionSchema = z.enum(['Allow', 'Drop', 'Reject', 'Pass']);
export type RuleAction = z.infer<typeof RuleActionSchema>;

const LogLabelSchema = z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, {
  error: 'expected up to 63 alphanumerics, "-", "_" or ".", starting and ending alphanumeric',
});

function ruleFields<A extends z.ZodType>(appliedTo: A) {
  return {
    action: RuleActionSchema,
    name: z.string().optional(),
    appliedTo: z.array(appliedTo).optional(),
    ports: z.array(AntreaPortSchema).optional(),
    l7Protocols: z.array(L7ProtocolSchema).optional(),
    enableLogging: z.boolean().optional(),
    logLabel: LogLabelSchema.optional(),
  };
}

function ingressRuleSchema<A extends z.ZodType, P extends z.ZodType>(appliedTo: A, peer: P) {
  return z.strictObject({
    ...ruleFields(appliedTo),
    from: z.array(peer).optional(),
    protocols: z.array(IngressProtocolSchema).optional(),
  });
}

// toServices stands for cluster IP + port + protocol, so the rule can have no other destination
// and no ports (Antrea's validate.go: "`toServices` cannot be used with `to`, `ports` or
// `protocols`"; "layer 7 protocols can not be used with toServices").
function egressRuleSchema<A extends z.ZodType, P extends z.ZodType, S extends z.ZodType>(appliedTo: A, peer: P, serviceRef: S) {
  return z
    .strictObject({
      ...ruleFields(appliedTo),
      to: z.array(peer).optional(),
      toServices: z.array(serviceRef).min(1).optional(),
      protocols: z.array(EgressProtocolSchema).optional(),
    })
    .superRefine((rule, ctx) => {
      if (rule.toServices === undefined) return;
      const others = [rule.to?.length ? 'to' : '', rule.ports !== undefined ? 'ports' : '', rule.protocols !== undefined ? 'protocols' : '', rule.l7Protocols !== undefined ? 'l7Protocols' : ''].filter(Boolean);
      if (others.length) {
        ctx.addIssue({ code: 'custom', path: ['toServices'], message: `toServices cannot be used with to, ports, protocols or l7Protocols in the same rule (also set: ${others.join(', ')})` });
      }
    });
}

export const ClusterIngressRuleSchema = ingressRuleSchema(ClusterAppliedToSchema, ClusterIngressPeerSchema);
export const ClusterEgressRuleSchema = egressRuleSchema(ClusterAppliedToSchema, ClusterEgressPeerSchema, ClusterServiceReferenceSchema);
export const NamespacedIngressRuleSchema = ingressRuleSchema(NamespacedAppliedToSchema, NamespacedIngressPeerSchema);
export const NamespacedEgressRuleSchema = egressRuleSchema(NamespacedAppliedToSchema, NamespacedEgressPeerSchema, NamespacedServiceReferenceSchema);

interface RuleShape {
  name?: string | undefined;
  action: RuleAction;
  appliedTo?: unknown[] | undefined;
}
interface SpecShape {
  tier?: string | undefined;
  appliedTo?: ({ service?: unknown } | object)[] | undefined;
  ingress?: RuleShape[] | undefined;
  egress?: RuleShape[] | undefined;
}

type Direction = 'ingress' | 'egress';

// Cross-rule checks from Antrea's webhook: unique rule names, appliedTo on the policy XOR on every
// rule, no Pass in the baseline tier, no egress rules for a policy applied to a Service.
function checkPolicySpec(spec: SpecShape, ctx: z.core.$RefinementCtx): void {
  const rules: [Direction, number, RuleShape][] = [
    ...(spec.ingress ?? []).map((r, i): [Direction, number, RuleShape] => ['ingress', i, r]),
    ...(spec.egress ?? []).map((r, i): [Direction, number, RuleShape] => ['egress', i, r]),
  ];

  const firstUse = new Map<string, string>();
  for (const [dir, i, rule] of rules) {
    if (rule.name === undefined || rule.name === '') continue;
    const seen = firstUse.get(rule.name);
    if (seen) ctx.addIssue({ code: 'custom', path: [dir, i, 'name'], message: `duplicate rule name ${JSON.stringify(rule.name)} (first used at ${seen})` });
    else firstUse.set(rule.name, `spec.${dir}[${i}].name`);
  }

  const policyLevel = (spec.appliedTo?.length ?? 0) > 0;
  const withAppliedTo = rules.filter(([, , r]) => (r.appliedTo?.length ?? 0) > 0);
  if (policyLevel) {
    for (const [dir, i] of withAppliedTo) {
      ctx.addIssue({ code: 'custom', path: [dir, i, 'appliedTo'], message: 'appliedTo cannot be set on a rule when spec.appliedTo is set' });
    }
  } else if (withAppliedTo.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['appliedTo'], message: 'required: set appliedTo on the policy or on every rule' });
  } else {
    for (const [dir, i, rule] of rules) {
      if ((rule.appliedTo?.length ?? 0) === 0) {
        ctx.addIssue({ code: 'custom', path: [dir, i, 'appliedTo'], message: 'required: other rules set appliedTo, so every rule must' });
      }
    }
  }

  if (effectiveTierName(spec.tier) === BASELINE_TIER) {
    for (const [dir, i, rule] of rules) {
      if (rule.action === 'Pass') ctx.addIssue({ code: 'custom', path: [dir, i, 'action'], message: 'Pass is not allowed in the baseline tier' });
    }
  }

  if ((spec.egress?.length ?? 0) > 0) {
    spec.appliedTo?.forEach((entry, i) => {
      if ('service' in entry && entry.service !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['appliedTo', i, 'service'], message: 'a policy applied to a Service can only have ingress rules' });
      }
    });
  }
}

const PrioritySchema = z.number().min(1).max(10000);

export const PolicyPhaseSchema = z.enum(['Pending', 'Realizing', 'Realized', 'Failed']);

/** Status Antrea (and the Seine controller) writes back on Antrea-native policies. */
export const PolicyStatusSchema = z.looseObject({
  phase: PolicyPhaseSchema.optional(),
  observedGeneration: z.number().int().nonnegative().optional(),
  currentNodesRealized: z.number().int().nonnegative().optional(),
  desiredNodesRealized: z.number().int().nonnegative().optional(),
  conditions: z.array(ConditionSchema).optional(),
});
export type PolicyStatus = z.infer<typeof PolicyStatusSchema>;

export const ClusterNetworkPolicySpecSchema = z
  .strictObject({
    tier: TierReferenceSchema.optional(),
    priority: PrioritySchema,
    appliedTo: z.array(ClusterAppliedToSchema).optional(),
    ingress: z.array(ClusterIngressRuleSchema).optional(),
    egress: z.array(ClusterEgressRuleSchema).optional(),
  })
  .superRefine(checkPolicySpec)
  // Applied to Nodes (host firewall, Antrea's NodeNetworkPolicy): host-policy.ts.
  .superRefine(checkNodeAppliedTo);
export type ClusterNetworkPolicySpec = z.infer<typeof ClusterNetworkPolicySpecSchema>;

export const AntreaNetworkPolicySpecSchema = z
  .strictObject({
    tier: TierReferenceSchema.optional(),
    priority: PrioritySchema,
    appliedTo: z.array(NamespacedAppliedToSchema).optional(),
    ingress: z.array(NamespacedIngressRuleSchema).optional(),
    egress: z.array(NamespacedEgressRuleSchema).optional(),
  })
  .superRefine(checkPolicySpec);
export type AntreaNetworkPolicySpec = z.infer<typeof AntreaNetworkPolicySpecSchema>;

export const ClusterNetworkPolicySchema = z.strictObject({
  apiVersion: z.enum(ANTREA_POLICY_API_VERSIONS),
  kind: z.literal('ClusterNetworkPolicy'),
  metadata: ObjectMetaSchema,
  spec: ClusterNetworkPolicySpecSchema,
  status: PolicyStatusSchema.optional(),
});
export type ClusterNetworkPolicy = z.infer<typeof ClusterNetworkPolicySchema>;

/** Antrea's namespaced NetworkPolicy (same kind name as Kubernetes', different API group). */
export const AntreaNetworkPolicySchema = z.strictObject({
  apiVersion: z.enum(ANTREA_POLICY_API_VERSIONS),
  kind: z.literal('NetworkPolicy'),
  metadata: ObjectMetaSchema,
  spec: AntreaNetworkPolicySpecSchema,
  status: PolicyStatusSchema.optional(),
});
export type AntreaNetworkPolicy = z.infer<typeof AntreaNetworkPolicySchema>;
