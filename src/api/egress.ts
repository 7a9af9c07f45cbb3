// Antrea Egress (eg) and ExternalIPPool (eip): SNAT selected pods' outbound traffic to an IP
// held by one eligible node; the pool says which IPs and which nodes.
import { z } from 'zod';
import { ConditionSchema, LabelSelectorSchema, ObjectMetaSchema } from './meta.js';
import { CIDRSchema, IPAddressSchema, compareIPs, ipFamily } from './net.js';

export const EGRESS_API_VERSIONS = ['crd.antrea.io/v1alpha2', 'crd.antrea.io/v1beta1'] as const;
export const EXTERNAL_IP_POOL_API_VERSIONS = ['crd.antrea.io/v1alpha2', 'crd.antrea.io/v1beta1'] as const;

type Ctx = z.core.$RefinementCtx;
const reject = (ctx: Ctx, path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

export const EgressSpecSchema = z
  .strictObject({
    // Unlike policies, one selector pair (not a list); empty selects nothing.
    appliedTo: z.strictObject({
      podSelector: LabelSelectorSchema.optional(),
      namespaceSelector: LabelSelectorSchema.optional(),
    }),
    egressIP: IPAddressSchema.optional(),
    externalIPPool: z.string().min(1).optional(),
    // Dual-stack form: one IP (or '' while unallocated) per pool.
    egressIPs: z.array(z.union([z.literal(''), IPAddressSchema])).optional(),
    externalIPPools: z.array(z.string().min(1)).optional(),
    bandwidth: z.strictObject({ rate: z.string().min(1), burst: z.string().min(1) }).optional(),
  })
  .superRefine((spec, ctx) => {
    const single = spec.egressIP !== undefined || spec.externalIPPool !== undefined;
    const multi = spec.egressIPs !== undefined || spec.externalIPPools !== undefined;
    if (!single && !multi) reject(ctx, ['egressIP'], 'required: set egressIP, externalIPPool, or both');
    if (single && multi) {
      reject(ctx, [spec.egressIPs !== undefined ? 'egressIPs' : 'externalIPPools'], 'cannot be combined with egressIP/externalIPPool');
    }
  });
export type EgressSpec = z.infer<typeof EgressSpecSchema>;

export const EgressStatusSchema = z.looseObject({
  egressNode: z.string().optional(),
  egressIP: z.string().optional(),
  conditions: z.array(ConditionSchema).optional(),
});

export const EgressSchema = z.strictObject({
  apiVersion: z.enum(EGRESS_API_VERSIONS),
  kind: z.literal('Egress'),
  metadata: ObjectMetaSchema,
  spec: EgressSpecSchema,
  status: EgressStatusSchema.optional(),
});
export type Egress = z.infer<typeof EgressSchema>;

/** One pool range: a CIDR, or an inclusive start/end pair of the same family. */
export const IPRangeSchema = z
  .strictObject({
    cidr: CIDRSchema.optional(),
    start: IPAddressSchema.optional(),
    end: IPAddressSchema.optional(),
  })
  .superRefine((range, ctx) => {
    const pair = range.start !== undefined || range.end !== undefined;
    if (range.cidr !== undefined && pair) {
      reject(ctx, [range.start !== undefined ? 'start' : 'end'], 'set either cidr or start/end, not both');
      return;
    }
    if (range.cidr === undefined && !pair) {
      reject(ctx, ['cidr'], 'required: set cidr or start and end');
      return;
    }
    if (range.cidr !== undefined) return;
    if (range.start === undefined) return reject(ctx, ['start'], 'required with end');
    if (range.end === undefined) return reject(ctx, ['end'], 'required with start');
    if (ipFamily(range.start) !== ipFamily(range.end)) return reject(ctx, ['end'], `must be of the same IP family as start (${range.start})`);
    if (compareIPs(range.start, range.end) > 0) reject(ctx, ['end'], `must not be below start (${range.start}), got ${range.end}`);
  });
export type IPRange = z.infer<typeof IPRangeSchema>;

export const ExternalIPPoolSpecSchema = z.strictObject({
  ipRanges: z.array(IPRangeSchema).min(1),
  subnetInfo: z
    .strictObject({
      gateway: IPAddressSchema,
      prefixLength: z.number().int().min(1).max(127),
      vlan: z.number().int().min(0).max(4094).optional(),
    })
    .optional(),
  // Required by Antrea's CRD; `{}` means every node is eligible.
  nodeSelector: LabelSelectorSchema,
});

export const ExternalIPPoolStatusSchema = z.looseObject({
  usage: z.looseObject({ total: z.number().int().optional(), used: z.number().int().optional() }).optional(),
  conditions: z.array(ConditionSchema).optional(),
});

export const ExternalIPPoolSchema = z.strictObject({
  apiVersion: z.enum(EXTERNAL_IP_POOL_API_VERSIONS),
  kind: z.literal('ExternalIPPool'),
  metadata: ObjectMetaSchema,
  spec: ExternalIPPoolSpecSchema,
  status: ExternalIPPoolStatusSchema.optional(),
});
export type ExternalIPPool = z.infer<typeof ExternalIPPoolSchema>;

/**
 * What the controller decided for one Egress, sent with it in each node's desired document:
 * the IP, the box that holds it, and the selected pods' IPs fleet-wide (the egress box SNATs
 * them all; every other box tunnels its own to the egress box). No egressNode: nobody holds it.
 */
export const EgressAssignmentSchema = z.strictObject({
  egressIP: IPAddressSchema.optional(),
  egressNode: z.string().min(1).optional(),
  podIPs: z.array(IPAddressSchema),
  /** Why there is no IP or no node (the Egress's status conditions say the same). */
  reason: z.string().optional(),
});
export type EgressAssignment = z.infer<typeof EgressAssignmentSchema>;
