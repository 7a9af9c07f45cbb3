// Upstream cluster policies from kubernetes-sigs/network-policy-api: ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2, v0.2.0: one kind with `tier: Admin | Baseline`) and the
// older v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy. Static checks are the CRD's
// (enums, priority 0-1000, one peer kind per entry, BANP named "default"); the compute step maps
// them onto internal tiers the way Antrea does.
import { z } from 'zod';
import { ConditionSchema, LabelSelectorSchema, ObjectMetaSchema } from './meta.js';
import { CIDRSchema, PortNumberSchema, isIanaServiceName } from './net.js';

export const CNP_API_VERSIONS = ['policy.networking.k8s.io/v1alpha2'] as const;
export const ANP_API_VERSIONS = ['policy.networking.k8s.io/v1alpha1'] as const;

const NamedPortSchema = z.string().refine(isIanaServiceName, {
  error: (issue) => `invalid port name ${JSON.stringify(issue.input)}: expected an IANA service name (up to 15 lowercase alphanumerics or "-")`,
});

/** `pods:` peer or subject: both selectors required (an empty one selects everything). */
const NamespacedPodSchema = z.strictObject({ namespaceSelector: LabelSelectorSchema, podSelector: LabelSelectorSchema });

/** Exactly one field of an object set, as the CRD's minProperties/maxProperties say. */
function exactlyOne(fields: readonly string[], what: string) {
  return (value: object, ctx: z.core.$RefinementCtx): void => {
    const set = fields.filter((f) => (value as Record<string, unknown>)[f] !== undefined);
    if (set.length !== 1) ctx.addIssue({ code: 'custom', message: `${what}: set exactly one of ${fields.join(', ')} (got ${set.length ? set.join(', ') : 'none'})` });
  };
}

const SubjectSchema = z
  .strictObject({ namespaces: LabelSelectorSchema.optional(), pods: NamespacedPodSchema.optional() })
  .superRefine(exactlyOne(['namespaces', 'pods'], 'subject'));

const IngressPeerSchema = z
  .strictObject({ namespaces: LabelSelectorSchema.optional(), pods: NamespacedPodSchema.optional() })
  .superRefine(exactlyOne(['namespaces', 'pods'], 'peer'));

const NetworksSchema = z.array(CIDRSchema).min(1).max(25);

// ---- v1alpha2 ClusterNetworkPolicy

const CnpPortSchema = z
  .strictObject({
    number: PortNumberSchema.optional(),
    range: z
      .strictObject({ start: PortNumberSchema, end: PortNumberSchema })
      .refine((r) => r.start <= r.end, { error: 'start must not be above end', path: ['end'] })
      .optional(),
  })
  .superRefine(exactlyOne(['number', 'range'], 'destinationPort'));

const CnpTransportSchema = z.strictObject({ destinationPort: CnpPortSchema.optional() });

export const CnpProtocolSchema = z
  .strictObject({
    tcp: CnpTransportSchema.optional(),
    udp: CnpTransportSchema.optional(),
    sctp: CnpTransportSchema.optional(),
    destinationNamedPort: NamedPortSchema.optional(),
  })
  .superRefine(exactlyOne(['tcp', 'udp', 'sctp', 'destinationNamedPort'], 'protocol'));
export type CnpProtocol = z.infer<typeof CnpProtocolSchema>;

// The egress peer fields v1alpha1 and v1alpha2 share; each version extends it, then checks that
// exactly one of its own fields is set (zod refuses to extend a refined object, hence two steps).
const EgressPeerFieldsSchema = z.strictObject({
  namespaces: LabelSelectorSchema.optional(),
  pods: NamespacedPodSchema.optional(),
  nodes: LabelSelectorSchema.optional(),
  networks: NetworksSchema.optional(),
});

/** An egress peer of `fields`: exactly one of them set (the message lists them in declaration order). */
function egressPeer<T extends z.ZodObject>(fields: T) {
  return fields.superRefine(exactlyOne(Object.keys(fields.shape), 'peer'));
}

const CnpEgressPeerSchema = egressPeer(EgressPeerFieldsSchema.extend({ domainNames: z.array(z.string()).min(1).optional() }));

export const CnpActionSchema = z.enum(['Accept', 'Deny', 'Pass']);
const RuleNameSchema = z.string().max(100);

const CnpIngressRuleSchema = z.strictObject({
  name: RuleNameSchema.optional(),
  action: CnpActionSchema,
  from: z.array(IngressPeerSchema).min(1).max(100),
  protocols: z.array(CnpProtocolSchema).min(1).max(100).optional(),
});
const CnpEgressRuleSchema = z.strictObject({
  name: RuleNameSchema.optional(),
  action: CnpActionSchema,
  to: z.array(CnpEgressPeerSchema).min(1).max(100),
  protocols: z.array(CnpProtocolSchema).min(1).max(100).optional(),
});

const PrioritySchema = z.number().int().min(0).max(1000);

interface NamedRules {
  ingress?: { name?: string | undefined; action: string }[] | undefined;
  egress?: { name?: string | undefined; action: string }[] | undefined;
}

// Rule names key np.log lines and stats; two rules with one name would be indistinguishable there.
function uniqueRuleNames(spec: NamedRules, ctx: z.core.$RefinementCtx): void {
  const seen = new Map<string, string>();
  for (const dir of ['ingress', 'egress'] as const) {
    spec[dir]?.forEach((rule, i) => {
      if (!rule.name) return;
      const first = seen.get(rule.name);
      if (first) ctx.addIssue({ code: 'custom', path: [dir, i, 'name'], message: `duplicate rule name ${JSON.stringify(rule.name)} (first used at ${first})` });
      else seen.set(rule.name, `spec.${dir}[${i}].name`);
    });
  }
}

export const UpstreamClusterNetworkPolicySpecSchema = z
  .strictObject({
    tier: z.enum(['Admin', 'Baseline']),
    priority: PrioritySchema,
    subject: SubjectSchema,
    ingress: z.array(CnpIngressRuleSchema).max(100).optional(),
    egress: z.array(CnpEgressRuleSchema).max(100).optional(),
  })
  .superRefine((spec, ctx) => {
    uniqueRuleNames(spec, ctx);
    // The v1alpha2 CRD forbids Pass in the Baseline tier: nothing below it to pass to but the default.
    if (spec.tier === 'Baseline') {
      for (const dir of ['ingress', 'egress'] as const) {
        spec[dir]?.forEach((rule, i) => {
          if (rule.action === 'Pass') ctx.addIssue({ code: 'custom', path: [dir, i, 'action'], message: 'Pass is not allowed in the Baseline tier' });
        });
      }
    }
  });
export type UpstreamClusterNetworkPolicySpec = z.infer<typeof UpstreamClusterNetworkPolicySpecSchema>;

const StatusSchema = z.looseObject({ conditions: z.array(ConditionSchema).optional() });

/** Same kind name as Antrea's ClusterNetworkPolicy (acnp); told apart by apiVersion. */
export const UpstreamClusterNetworkPolicySchema = z.strictObject({
  apiVersion: z.enum(CNP_API_VERSIONS),
  kind: z.literal('ClusterNetworkPolicy'),
  metadata: ObjectMetaSchema,
  spec: UpstreamClusterNetworkPolicySpecSchema,
  status: StatusSchema.optional(),
});
export type UpstreamClusterNetworkPolicy = z.infer<typeof UpstreamClusterNetworkPolicySchema>;

// ---- v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy

const AnpProtocolSchema = z.enum(['TCP', 'UDP', 'SCTP']);
export const AnpPortSchema = z
  .strictObject({
    portNumber: z.strictObject({ protocol: AnpProtocolSchema.default('TCP'), port: PortNumberSchema }).optional(),
    namedPort: NamedPortSchema.optional(),
    portRange: z
      .strictObject({ protocol: AnpProtocolSchema.default('TCP'), start: PortNumberSchema, end: PortNumberSchema })
      .refine((r) => r.start < r.end, { error: 'start must be below end', path: ['end'] })
      .optional(),
  })
  .superRefine(exactlyOne(['portNumber', 'namedPort', 'portRange'], 'port'));
export type AnpPort = z.infer<typeof AnpPortSchema>;

const AnpEgressPeerSchema = egressPeer(EgressPeerFieldsSchema);

function anpRules<A extends z.ZodType>(action: A) {
  return {
    ingress: z
      .array(z.strictObject({ name: RuleNameSchema.optional(), action, from: z.array(IngressPeerSchema).min(1).max(100), ports: z.array(AnpPortSchema).min(1).max(100).optional() }))
      .max(100)
      .optional(),
    egress: z
      .array(z.strictObject({ name: RuleNameSchema.optional(), action, to: z.array(AnpEgressPeerSchema).min(1).max(100), ports: z.array(AnpPortSchema).min(1).max(100).optional() }))
      .max(100)
      .optional(),
  };
}

export const AdminNetworkPolicySpecSchema = z
  .strictObject({ priority: PrioritySchema, subject: SubjectSchema, ...anpRules(z.enum(['Allow', 'Deny', 'Pass'])) })
  .superRefine(uniqueRuleNames);
export const BaselineAdminNetworkPolicySpecSchema = z.strictObject({ subject: SubjectSchema, ...anpRules(z.enum(['Allow', 'Deny'])) }).superRefine(uniqueRuleNames);

export const AdminNetworkPolicySchema = z.strictObject({
  apiVersion: z.enum(ANP_API_VERSIONS),
  kind: z.literal('AdminNetworkPolicy'),
  metadata: ObjectMetaSchema,
  spec: AdminNetworkPolicySpecSchema,
  status: StatusSchema.optional(),
});
export type AdminNetworkPolicy = z.infer<typeof AdminNetworkPolicySchema>;

/** A singleton: the CRD only accepts the name "default". */
export const BaselineAdminNetworkPolicySchema = z
  .strictObject({
    apiVersion: z.enum(ANP_API_VERSIONS),
    kind: z.literal('BaselineAdminNetworkPolicy'),
    metadata: ObjectMetaSchema,
    spec: BaselineAdminNetworkPolicySpecSchema,
    status: StatusSchema.optional(),
  })
  .superRefine((banp, ctx) => {
    if (banp.metadata.name !== undefined && banp.metadata.name !== 'default') {
      ctx.addIssue({ code: 'custom', path: ['metadata', 'name'], message: `must be "default" (BaselineAdminNetworkPolicy is a singleton), got ${JSON.stringify(banp.metadata.name)}` });
    }
  });
export type BaselineAdminNetworkPolicy = z.infer<typeof BaselineAdminNetworkPolicySchema>;

/** Their qualified kinds (Kind.group), for the lists of kinds the policy computation takes. */
export const UPSTREAM_POLICY_KINDS = [
  'ClusterNetworkPolicy.policy.networking.k8s.io',
  'AdminNetworkPolicy.policy.networking.k8s.io',
  'BaselineAdminNetworkPolicy.policy.networking.k8s.io',
] as const;

export type UpstreamPolicy = UpstreamClusterNetworkPolicy | AdminNetworkPolicy | BaselineAdminNetworkPolicy;

export function isUpstreamPolicy(p: { apiVersion: string }): p is UpstreamPolicy {
  return p.apiVersion.startsWith('policy.networking.k8s.io/');
}
