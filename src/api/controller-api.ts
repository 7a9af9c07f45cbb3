// What the controller's REST API returns and accepts beyond the manifests themselves: stored
// objects with server-set metadata, policy status computed from node reports, the node list,
// apply results and Kubernetes-shaped error bodies. seinectl, Node-RED and tests parse with these.
import { z } from 'zod';
import { NodeNameSchema } from './meta.js';
import { TraceflowStatusSchema } from './traceflow.js';

/** Metadata the store sets on every object (Kubernetes' names and meanings). */
export const StoredMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string(),
  /** Bumped when the spec changes (not for label or annotation changes). */
  generation: z.number().int().positive(),
  /** Store-wide revision of the last change to this object, as a string like Kubernetes'. */
  resourceVersion: z.string(),
  creationTimestamp: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const RealizationStatusPhaseSchema = z.enum(['Pending', 'Realizing', 'Realized', 'Failed']);

/** Antrea's NetworkPolicyStatus shape, computed from what the nodes report. */
export const PolicyStatusSchema = z.strictObject({
  phase: RealizationStatusPhaseSchema,
  observedGeneration: z.number().int().nonnegative(),
  currentNodesRealized: z.number().int().nonnegative(),
  desiredNodesRealized: z.number().int().nonnegative(),
  conditions: z
    .array(z.strictObject({ type: z.string(), status: z.enum(['True', 'False', 'Unknown']), reason: z.string().optional(), message: z.string().optional() }))
    .optional(),
});
export type PolicyStatus = z.infer<typeof PolicyStatusSchema>;

export const StoredObjectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: StoredMetaSchema,
  spec: z.unknown(),
  /** Policies: computed from node reports; Traceflows: written by the controller as it runs them. */
  status: z.union([PolicyStatusSchema, TraceflowStatusSchema]).optional(),
});
export type StoredObject = z.infer<typeof StoredObjectSchema>;

export const ObjectListSchema = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.strictObject({ resourceVersion: z.string() }),
  items: z.array(StoredObjectSchema),
});

export const NodeInfoSchema = z.strictObject({
  name: NodeNameSchema,
  online: z.boolean(),
  agentVersion: z.string().nullable(),
  uptimeSeconds: z.number().nullable(),
  /** ISO time of the last message from the node, null if never seen. */
  lastSeen: z.string().nullable(),
  /** The desired-state generation the controller last published for the node. */
  desiredGeneration: z.number().int().nonnegative(),
  /** The desired-state generation the node last reported as fully processed. */
  realizedGeneration: z.number().int().nonnegative().nullable(),
  objectsRealized: z.number().int().nonnegative(),
  objectsFailed: z.number().int().nonnegative(),
  /** `seinectl node disable`: its certificates are revoked, it gets no desired state (deleted nodes are not listed at all). */
  disabled: z.boolean().optional(),
  /** Why the node's current desired document was not sent (larger than the message limit). */
  desiredError: z.string().optional(),
});
export type NodeInfo = z.infer<typeof NodeInfoSchema>;

export const ApplyOutcomeSchema = z.enum(['created', 'configured', 'unchanged']);
export const ApplyResultSchema = z.strictObject({
  items: z.array(
    z.strictObject({
      kind: z.string(),
      namespace: z.string().optional(),
      name: z.string(),
      outcome: ApplyOutcomeSchema,
      generation: z.number().int().positive(),
    }),
  ),
});
export type ApplyResult = z.infer<typeof ApplyResultSchema>;

/** A subset of metav1.Status; `details.causes` carries one entry per offending field. */
export const ErrorStatusSchema = z.looseObject({
  kind: z.literal('Status'),
  status: z.literal('Failure'),
  code: z.number().int(),
  reason: z.string(),
  message: z.string(),
  details: z.looseObject({ causes: z.array(z.looseObject({ field: z.string(), message: z.string() })).optional() }).optional(),
});
export type ErrorStatus = z.infer<typeof ErrorStatusSchema>;

export const NodeCredentialsSchema = z.strictObject({ username: NodeNameSchema, password: z.string().min(1) });

/** POST /api/v1/nodes/<node>/rpc: run a request/response method on a node's agent. */
export const RpcCallSchema = z.strictObject({
  method: z.string().min(1),
  params: z.unknown().optional(),
  /** How long to wait for the node's answer. */
  timeoutMs: z.number().int().min(1).max(120_000).default(5_000),
});
export type RpcCall = z.infer<typeof RpcCallSchema>;

export const RpcCallResultSchema = z.strictObject({ node: NodeNameSchema, method: z.string(), result: z.unknown() });
export type RpcCallResult = z.infer<typeof RpcCallResultSchema>;

/** GET <object path>/nodes: how each node of the object's span stands with it. */
export const NodeRealizationSchema = z.strictObject({
  node: NodeNameSchema,
  online: z.boolean(),
  /** The object generation the node last reported on, null if none. */
  realizedGeneration: z.number().int().nonnegative().nullable(),
  /** Pending until the node reports the object's current generation. */
  phase: z.enum(['Pending', 'Realized', 'Failed']),
  reason: z.string().optional(),
});
export type NodeRealization = z.infer<typeof NodeRealizationSchema>;

/**
 * The embedded broker's state (`GET/PUT /api/v1/broker`). Stopping it keeps the controller and
 * its REST API up: changes are stored and published when it runs again (maintenance, outage drills).
 */
export const BrokerStateSchema = z.strictObject({ running: z.boolean() });
export type BrokerState = z.infer<typeof BrokerStateSchema>;

/** A query parameter in milliseconds since the epoch (as in the URL: a string of digits). */
export const EpochMsParamSchema = z.string().regex(/^\d{1,16}$/, 'expected milliseconds since the epoch (a non-negative integer)').transform(Number);

/** Most audit entries one GET /api/v1/audit returns. */
export const AUDIT_QUERY_MAX = 1000;

/** GET /api/v1/audit's query parameters: the newest `limit` entries (1…AUDIT_QUERY_MAX). */
export const AuditQuerySchema = z.object({
  limit: z
    .string()
    .regex(/^\d{1,9}$/, 'expected a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(AUDIT_QUERY_MAX, { error: `at most ${AUDIT_QUERY_MAX} entries per request` }))
    .default(100),
});

/** GET /api/v1/events's query parameters. */
export const EventQuerySchema = z.object({
  node: z.string().optional(),
  type: z.string().optional(),
  since: EpochMsParamSchema.optional(),
  limit: z.string().regex(/^\d+$/, 'expected a non-negative integer').transform(Number).default(100),
});
