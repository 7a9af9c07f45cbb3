// Antrea ClusterGroup (cg, cluster-scoped) and Group (grp, namespaced): reusable sets of pods,
// IP blocks, a Service's endpoints or other groups. A group selects one of those things; only
// namespaceSelector may accompany podSelector (or externalEntitySelector).
import { z } from 'zod';
import { ConditionSchema, LabelSelectorSchema, NamespacedNameSchema, ObjectMetaSchema } from './meta.js';
import { IPBlockSchema, isMulticastIP, parseCIDR } from './net.js';

// ClusterGroup moved through v1alpha2 and v1alpha3 before v1beta1 (docs/api.md).
export const CLUSTER_GROUP_API_VERSIONS = ['crd.antrea.io/v1alpha2', 'crd.antrea.io/v1alpha3', 'crd.antrea.io/v1beta1'] as const;
export const GROUP_API_VERSIONS = ['crd.antrea.io/v1alpha3', 'crd.antrea.io/v1beta1'] as const;

// `namespaceSelector` is a qualifier, not a selection of its own.
const SELECTIONS = ['podSelector', 'nodeSelector', 'externalEntitySelector', 'serviceReference', 'ipBlock', 'ipBlocks', 'childGroups'] as const;

function checkGroupSpec(spec: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const set = SELECTIONS.filter((f) => spec[f] !== undefined);
  if (set.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: [set[1]!],
      message: `cannot be set together with ${set[0]}: a group selects either workloads, IP blocks, a Service or child groups`,
    });
  }
  if (spec.namespaceSelector !== undefined && set.length > 0 && set[0] !== 'podSelector' && set[0] !== 'externalEntitySelector') {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: `cannot be set together with ${set[0]}` });
  }
  const blocks = (spec.ipBlocks as { cidr: string }[] | undefined) ?? [];
  const multicast = blocks.map((b) => {
    const parsed = parseCIDR(b.cidr);
    return parsed ? isMulticastIP(b.cidr.split('/')[0]!) : false;
  });
  if (multicast.includes(true) && multicast.includes(false)) {
    ctx.addIssue({ code: 'custom', path: ['ipBlocks'], message: 'multicast and unicast CIDRs cannot be mixed in one group' });
  }
}

const groupSpecFields = {
  podSelector: LabelSelectorSchema.optional(),
  namespaceSelector: LabelSelectorSchema.optional(),
  externalEntitySelector: LabelSelectorSchema.optional(),
  ipBlocks: z.array(IPBlockSchema).optional(),
  serviceReference: NamespacedNameSchema.optional(),
  childGroups: z.array(z.string().min(1)).optional(),
};

export const ClusterGroupSpecSchema = z
  .strictObject({
    ...groupSpecFields,
    nodeSelector: LabelSelectorSchema.optional(),
    // Single ipBlock: v1alpha2/v1alpha3 field, still documented; superseded by ipBlocks.
    ipBlock: IPBlockSchema.optional(),
  })
  .superRefine(checkGroupSpec);

export const GroupSpecSchema = z
  .strictObject({
    ...groupSpecFields,
    // A Group's serviceReference lives in the Group's namespace, so its namespace may be omitted.
    serviceReference: z.strictObject({ name: z.string().min(1), namespace: z.string().optional() }).optional(),
  })
  .superRefine(checkGroupSpec);

export const GroupStatusSchema = z.looseObject({
  conditions: z.array(ConditionSchema).optional(),
});

export const ClusterGroupSchema = z.strictObject({
  apiVersion: z.enum(CLUSTER_GROUP_API_VERSIONS),
  kind: z.literal('ClusterGroup'),
  metadata: ObjectMetaSchema,
  spec: ClusterGroupSpecSchema,
  status: GroupStatusSchema.optional(),
});
export type ClusterGroup = z.infer<typeof ClusterGroupSchema>;

export const GroupSchema = z.strictObject({
  apiVersion: z.enum(GROUP_API_VERSIONS),
  kind: z.literal('Group'),
  metadata: ObjectMetaSchema,
  spec: GroupSpecSchema,
  status: GroupStatusSchema.optional(),
});
export type Group = z.infer<typeof GroupSchema>;
