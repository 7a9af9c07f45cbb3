// NetworkPolicyEvaluation (POST /api/v1/networkpolicyevaluation): Antrea's request and response
// shape (controlplane.antrea.io NetworkPolicyEvaluation: request.source/destination.pod,
// response.networkPolicy, ruleIndex, rule {direction, name, action}) plus what Seine adds: the
// connection (protocol, port, ICMP type/code), endpoints given by address or on a named node,
// the final action, why it was decided (a policy, K8s isolation, the baseline tier, no policy),
// and each side's deciding step. One schema for the controller, seinectl and tests.
import { z } from 'zod';
import { IPAddressSchema, PortNumberSchema } from './net.js';
import { NamespaceNameSchema, NodeNameSchema, ObjectNameSchema } from './meta.js';

export const NPE_API_VERSION = 'controlplane.antrea.io/v1beta2';
export const NPE_KIND = 'NetworkPolicyEvaluation';
export const NPE_PATH = '/api/v1/networkpolicyevaluation';

export const EvalEntitySchema = z
  .strictObject({
    /** Antrea's PodReference. */
    pod: z.strictObject({ namespace: NamespaceNameSchema.default('default'), name: ObjectNameSchema }).optional(),
    /** Seine: an address (a pod's, found among the pods, or one outside them). */
    ip: IPAddressSchema.optional(),
    /** Seine: the node of the pod, when two boxes of different clusters host pods of the same name. */
    node: NodeNameSchema.optional(),
  })
  .superRefine((e, ctx) => {
    if (!e.pod && e.ip === undefined) ctx.addIssue({ code: 'custom', path: ['pod'], message: 'a pod (namespace and name) or an ip is required' });
  });
export type EvalEntity = z.infer<typeof EvalEntitySchema>;

const ICMP_FIELD = z.number().int().min(0).max(255);

export const NetworkPolicyEvaluationRequestSchema = z
  .strictObject({
    source: EvalEntitySchema,
    destination: EvalEntitySchema,
    /** Left out: any protocol; TCP when only a port is given (as Kubernetes defaults it). */
    protocol: z.enum(['TCP', 'UDP', 'SCTP', 'ICMP']).optional(),
    /** Destination port; left out: any port. */
    port: PortNumberSchema.optional(),
    icmpType: ICMP_FIELD.optional(),
    icmpCode: ICMP_FIELD.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.port !== undefined && r.protocol === 'ICMP') ctx.addIssue({ code: 'custom', path: ['port'], message: 'ICMP has no ports (use icmpType and icmpCode)' });
    for (const f of ['icmpType', 'icmpCode'] as const) {
      if (r[f] !== undefined && r.protocol !== 'ICMP') ctx.addIssue({ code: 'custom', path: [f], message: 'needs protocol ICMP' });
    }
  })
  .transform((r) => (r.port !== undefined && r.protocol === undefined ? { ...r, protocol: 'TCP' as const } : r));
export type NetworkPolicyEvaluationRequest = z.infer<typeof NetworkPolicyEvaluationRequestSchema>;

/** The POST body: Antrea's object with its request (apiVersion and kind may be left out). */
export const NetworkPolicyEvaluationSchema = z.strictObject({
  apiVersion: z.literal(NPE_API_VERSION).optional(),
  kind: z.literal(NPE_KIND).optional(),
  /** Go clients serialize an empty ObjectMeta (`{creationTimestamp: null}`); it carries nothing here. */
  metadata: z.looseObject({}).optional(),
  request: NetworkPolicyEvaluationRequestSchema,
});

export const EvalActionSchema = z.enum(['Allow', 'Drop', 'Reject']);
export const DecidedBySchema = z.enum(['policy', 'k8s-isolation', 'no-policy', 'baseline']);

/** Antrea's NetworkPolicyReference (type, namespace, name, uid) plus the tier and priority of Antrea-native policies. */
export const NetworkPolicyReferenceSchema = z.strictObject({
  type: z.enum(['K8sNetworkPolicy', 'AntreaClusterNetworkPolicy', 'AntreaNetworkPolicy', 'ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']),
  namespace: z.string().optional(),
  name: z.string(),
  uid: z.string().optional(),
  tier: z.string().optional(),
  priority: z.number().optional(),
});
export type NetworkPolicyReference = z.infer<typeof NetworkPolicyReferenceSchema>;

export const EvalStepSchema = z.strictObject({
  action: EvalActionSchema,
  decidedBy: DecidedBySchema,
  networkPolicy: NetworkPolicyReferenceSchema.optional(),
  /** Index in spec.ingress / spec.egress; -1 for K8s isolation. */
  ruleIndex: z.number().int().optional(),
  ruleName: z.string().optional(),
  /** Pass rules crossed before the decision. */
  passed: z.array(z.strictObject({ networkPolicy: NetworkPolicyReferenceSchema, ruleIndex: z.number().int(), ruleName: z.string() })).optional(),
  /** K8s isolation: every K8s NetworkPolicy isolating the pod in this direction. */
  isolatedBy: z.array(NetworkPolicyReferenceSchema).optional(),
});
export type EvalStepView = z.infer<typeof EvalStepSchema>;

/** An endpoint as resolved: the pod found (by name or by address) and the address rules were matched on. */
export const ResolvedEntitySchema = z.strictObject({
  ip: z.string(),
  pod: z.strictObject({ namespace: z.string(), name: z.string() }).optional(),
  node: z.string().optional(),
});

export const NetworkPolicyEvaluationResponseSchema = z.strictObject({
  /** The final effect on the connection. */
  action: EvalActionSchema,
  decidedBy: DecidedBySchema,
  /** The same in one sentence. */
  message: z.string(),
  /** Antrea's fields: the effective policy and rule (absent when no policy applies). */
  networkPolicy: NetworkPolicyReferenceSchema.optional(),
  ruleIndex: z.number().int().optional(),
  rule: z.strictObject({ direction: z.enum(['In', 'Out']), name: z.string().optional(), action: EvalActionSchema }).optional(),
  source: ResolvedEntitySchema,
  destination: ResolvedEntitySchema,
  /** The source pod's egress rules (absent when the source is no pod). */
  egress: EvalStepSchema.optional(),
  /** The destination pod's ingress rules (absent when the destination is no pod). */
  ingress: EvalStepSchema.optional(),
  /** Stored policies the computation refused: they take part nowhere (as on the boxes). */
  policyErrors: z.array(z.string()).optional(),
});
export type NetworkPolicyEvaluationResponse = z.infer<typeof NetworkPolicyEvaluationResponseSchema>;

export const NetworkPolicyEvaluationResultSchema = z.strictObject({
  apiVersion: z.literal(NPE_API_VERSION),
  kind: z.literal(NPE_KIND),
  request: z.unknown(),
  response: NetworkPolicyEvaluationResponseSchema,
});
export type NetworkPolicyEvaluationResult = z.infer<typeof NetworkPolicyEvaluationResultSchema>;
