// /openapi.json from the same zod schemas that validate requests (zod 4's toJSONSchema), with
// one path per resource route the server answers.
import { z } from 'zod';
import {
  ApplyResultSchema, ErrorStatusSchema, NodeCredentialsSchema, NodeInfoSchema, NodeRealizationSchema, RpcCallResultSchema, RpcCallSchema, StoredObjectSchema,
} from '../../api/controller-api.js';
import { EnrollRequestSchema, JoinTokenRequestSchema, JoinTokenResponseSchema, NodeCertificateResponseSchema, NodeRemovalSchema, RenewRequestSchema } from '../../api/enrollment.js';
import { ImpactRequestSchema, ImpactResultSchema, RecommendRequestSchema, RecommendResultSchema } from '../../api/impact.js';
import { KINDS, qualifiedKind } from '../../api/kinds.js';
import { resourceBase } from '../../api/rest-paths.js';
import { NPE_PATH, NetworkPolicyEvaluationResultSchema, NetworkPolicyEvaluationSchema } from '../../api/policy-evaluation.js';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { unrepresentable: 'any', io: 'input' });

export function buildOpenApi(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    StoredObject: schema(StoredObjectSchema),
    ApplyResult: schema(ApplyResultSchema),
    Status: schema(ErrorStatusSchema),
    NodeInfo: schema(NodeInfoSchema),
    NodeCredentials: schema(NodeCredentialsSchema),
    NodeRealization: schema(NodeRealizationSchema),
    RpcCall: schema(RpcCallSchema),
    RpcCallResult: schema(RpcCallResultSchema),
    JoinTokenRequest: schema(JoinTokenRequestSchema),
    JoinTokenResponse: schema(JoinTokenResponseSchema),
    EnrollRequest: schema(EnrollRequestSchema),
    RenewRequest: schema(RenewRequestSchema),
    NodeCertificate: schema(NodeCertificateResponseSchema),
    NodeRemoval: schema(NodeRemovalSchema),
    ImpactRequest: schema(ImpactRequestSchema),
    ImpactPreview: schema(ImpactResultSchema),
    RecommendRequest: schema(RecommendRequestSchema),
    Recommendation: schema(RecommendResultSchema),
    NetworkPolicyEvaluation: schema(NetworkPolicyEvaluationSchema),
    NetworkPolicyEvaluationResult: z.toJSONSchema(NetworkPolicyEvaluationResultSchema, { unrepresentable: 'any', io: 'output' }),
  };
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const json = (s: unknown) => ({ content: { 'application/json': { schema: s } } });
  const errors = { '400': { description: 'bad request', ...json(ref('Status')) }, '401': { description: 'no or unknown token' }, '403': { description: 'read-only token' }, '422': { description: 'invalid object, with field paths', ...json(ref('Status')) } };
  const paths: Record<string, unknown> = {
    '/healthz': { get: { responses: { '200': { description: 'ok' } } } },
    '/api/v1/flows': { get: { summary: 'fleet flows: each connection joined from its source and destination nodes (query: pod, namespace, policy, limit; since and until in milliseconds since the epoch, against each connection\'s flowEndSeconds; a bad value is a 400 naming the parameter)', responses: { '200': json({ type: 'object' }) } } },
    '/api/v1/nodelatencystats': { get: { summary: 'Antrea NodeLatencyStats of every box (round trips to its peers; needs a NodeLatencyMonitor)', responses: { '200': json({ type: 'object' }) } } },
    '/api/v1/nodelatencystats/{name}': { get: { summary: 'one box\'s NodeLatencyStats', responses: { '200': json({ type: 'object' }), '404': { description: 'no stats from that node' } } } },
    '/api/v1/nodes': { get: { summary: 'nodes: online, version, last seen, realized generation', responses: { '200': json({ type: 'array', items: ref('NodeInfo') }) } } },
    '/api/v1/nodes/{name}/credentials': { post: { summary: 'create or rotate a node\'s MQTT password', responses: { '200': json(ref('NodeCredentials')), ...errors } } },
    '/api/v1/nodes/{name}/rpc': {
      post: {
        summary: 'run a request/response method on the node\'s agent (ping, status, …) over MQTT',
        requestBody: { required: true, ...json(ref('RpcCall')) },
        responses: { '200': json(ref('RpcCallResult')), ...errors, '404': { description: 'unknown node' }, '502': { description: 'the node answered with an error (UnknownMethod, BadParams, Failed)', ...json(ref('Status')) }, '504': { description: 'no answer within timeoutMs', ...json(ref('Status')) } },
      },
    },
    '/cacerts': { get: { summary: 'the fleet CA (PEM), no auth: a box compares its SHA-256 with the pinned fingerprint before it enrolls', responses: { '200': { description: 'PEM', content: { 'application/x-pem-file': {} } } } } },
    '/api/v1/nodes/{name}/join-token': { post: { summary: 'register a node and make a one-time join token (seinectl node add)', requestBody: json(ref('JoinTokenRequest')), responses: { '201': json(ref('JoinTokenResponse')), ...errors } } },
    '/api/v1/nodes/{name}': { delete: { summary: 'delete a node: revoke its certificates, drop its session, clear its retained topics', responses: { '200': json(ref('NodeRemoval')), ...errors, '404': { description: 'unknown node' } } } },
    '/api/v1/nodes/{name}/disable': { post: { summary: 'disable a node (revoked like delete, listed as disabled)', responses: { '200': json(ref('NodeRemoval')), ...errors, '404': { description: 'unknown node' } } } },
    '/api/v1/enroll': { post: { summary: 'a box enrolls: join token + its CSR → node certificate (no bearer token; the join token is consumed)', requestBody: { required: true, ...json(ref('EnrollRequest')) }, responses: { '200': json(ref('NodeCertificate')), '401': { description: 'unknown join token', ...json(ref('Status')) }, '403': { description: 'join token used, expired or for another node', ...json(ref('Status')) }, '422': errors['422'] } } },
    '/api/v1/node/renew': { post: { summary: 'a box renews its certificate: authenticated by its current client certificate (not revoked)', requestBody: { required: true, ...json(ref('RenewRequest')) }, responses: { '200': json(ref('NodeCertificate')), '401': { description: 'no or untrusted client certificate' }, '403': { description: 'revoked, deleted or disabled' } } } },
    '/api/v1/node/releases/{version}/{arch}/bundle': { get: { summary: 'a box downloads a release bundle with its client certificate (byte ranges)', responses: { '200': { description: 'the bundle' }, '206': { description: 'a range' } } } },
    '/api/v1/impact': { post: { summary: 'impact preview: the recorded connections a change (items, apply or delete) would newly deny or allow, from every box\'s flow store in the window; nothing is applied; boxes not heard from are named', requestBody: { required: true, ...json(ref('ImpactRequest')) }, responses: { '200': json(ref('ImpactPreview')), ...errors, '413': { description: 'the stored policy objects plus the change exceed the MQTT message limit', ...json(ref('Status')) } } } },
    '/api/v1/recommendation': { post: { summary: 'least-privilege policies (K8s NetworkPolicy or ACNP + baseline deny) for a namespace from the recorded allowed connections', requestBody: { required: true, ...json(ref('RecommendRequest')) }, responses: { '200': json(ref('Recommendation')), ...errors } } },
    [NPE_PATH]: {
      post: {
        summary: 'NetworkPolicy evaluation (antctl query networkpolicyevaluation): which rule decides a connection from a source to a destination (pods, or addresses) and with what effect, computed from the stored policies and the reported inventories; read access is enough',
        requestBody: { required: true, ...json(ref('NetworkPolicyEvaluation')) },
        responses: { '200': json(ref('NetworkPolicyEvaluationResult')), ...errors, '404': { description: 'a pod no node reports (the message names it)', ...json(ref('Status')) } },
      },
    },
    '/api/v1/apply': { post: { summary: 'create or update every object of a manifest (any kinds), all or nothing', responses: { '200': json(ref('ApplyResult')), ...errors } } },
    '/api/v1/delete': { post: { summary: 'delete every object of a manifest, all or nothing', responses: { '200': json(ref('ApplyResult')), ...errors } } },
  };
  for (const kind of KINDS) {
    const name = qualifiedKind(kind);
    schemas[name] = schema(kind.schema);
    const base = resourceBase(kind);
    const collection = kind.namespaced ? `${base}/namespaces/{namespace}/${kind.plural}` : `${base}/${kind.plural}`;
    const body = { required: true, ...json(ref(name)) };
    paths[collection] = {
      get: { summary: `list ${kind.plural}`, responses: { '200': json({ type: 'object' }) } },
      post: { summary: `create or update ${kind.plural} (one object or a List), all or nothing`, requestBody: body, responses: { '200': json(ref('ApplyResult')), ...errors } },
    };
    paths[`${collection}/{name}`] = {
      get: { responses: { '200': json(ref('StoredObject')), '404': { description: 'not found' } } },
      put: { requestBody: body, responses: { '200': json(ref('ApplyResult')), ...errors } },
      delete: { responses: { '200': json(ref('StoredObject')), '404': { description: 'not found' } } },
    };
    paths[`${collection}/{name}/nodes`] = {
      get: { summary: 'each node of the object\'s span: the generation it reports and its phase', responses: { '200': json({ type: 'array', items: ref('NodeRealization') }), '404': { description: 'not found' } } },
    };
    if (kind.namespaced) paths[`${base}/${kind.plural}`] = { get: { summary: `list ${kind.plural} in all namespaces`, responses: { '200': json({ type: 'object' }) } } };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Seine controller', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas },
    security: [{ bearer: [] }],
    paths,
  };
}
