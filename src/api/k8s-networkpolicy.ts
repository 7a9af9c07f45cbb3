// Kubernetes networking.k8s.io/v1 NetworkPolicy, with the API server's validation rules
// (pkg/apis/networking/validation). Objects are strict: the API server rejects unknown fields,
// which is also what catches an Antrea-only field (`action`, `appliedTo`) in a K8s policy.
import { z } from 'zod';
import { LabelSelectorSchema, ObjectMetaSchema } from './meta.js';
import { IPBlockSchema, PortSchema, TransportProtocolSchema, portRangeIssues } from './net.js';

export const K8S_NETWORKING_API_VERSION = 'networking.k8s.io/v1';

export const K8sNetworkPolicyPortSchema = z
  .strictObject({
    protocol: TransportProtocolSchema.optional(),
    port: PortSchema.optional(),
    endPort: z.number().int().optional(),
  })
  .superRefine((p, ctx) => {
    for (const issue of portRangeIssues(p.port, p.endPort)) ctx.addIssue({ code: 'custom', ...issue });
  });

export const K8sNetworkPolicyPeerSchema = z
  .strictObject({
    podSelector: LabelSelectorSchema.optional(),
    namespaceSelector: LabelSelectorSchema.optional(),
    ipBlock: IPBlockSchema.optional(),
  })
  .superRefine((peer, ctx) => {
    const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
    if (!selectors && peer.ipBlock === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a peer needs podSelector, namespaceSelector or ipBlock' });
    }
    if (selectors && peer.ipBlock !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['ipBlock'], message: 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer' });
    }
  });

export const K8sNetworkPolicyIngressRuleSchema = z.strictObject({
  from: z.array(K8sNetworkPolicyPeerSchema).optional(),
  ports: z.array(K8sNetworkPolicyPortSchema).optional(),
});

export const K8sNetworkPolicyEgressRuleSchema = z.strictObject({
  to: z.array(K8sNetworkPolicyPeerSchema).optional(),
  ports: z.array(K8sNetworkPolicyPortSchema).optional(),
});

export const PolicyTypeSchema = z.enum(['Ingress', 'Egress']);

export const K8sNetworkPolicySpecSchema = z
  .strictObject({
    // Optional since Kubernetes 1.31 documents an omitted podSelector as `{}` (all pods).
    podSelector: LabelSelectorSchema.optional(),
    policyTypes: z.array(PolicyTypeSchema).max(2).optional(),
    ingress: z.array(K8sNetworkPolicyIngressRuleSchema).optional(),
    egress: z.array(K8sNetworkPolicyEgressRuleSchema).optional(),
  })
  .superRefine((spec, ctx) => {
    spec.policyTypes?.forEach((type, i) => {
      if (spec.policyTypes!.indexOf(type) !== i) {
        ctx.addIssue({ code: 'custom', path: ['policyTypes', i], message: `duplicate policy type ${JSON.stringify(type)}` });
      }
    });
  });

export const K8sNetworkPolicySchema = z.strictObject({
  apiVersion: z.literal(K8S_NETWORKING_API_VERSION),
  kind: z.literal('NetworkPolicy'),
  metadata: ObjectMetaSchema,
  spec: K8sNetworkPolicySpecSchema,
  // NetworkPolicyStatus existed briefly (alpha, 1.24-1.26); tolerate it in exported objects.
  status: z.looseObject({}).optional(),
});
export type K8sNetworkPolicy = z.infer<typeof K8sNetworkPolicySchema>;
export type K8sNetworkPolicySpec = z.infer<typeof K8sNetworkPolicySpecSchema>;
