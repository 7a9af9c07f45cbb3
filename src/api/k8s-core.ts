// The parts of Kubernetes core/v1 that Seine reads: Pod, Namespace, Node, their List forms
// and watch events. Schemas are loose (unknown fields pass through, so a newer API server
// never breaks the agent) but strict on every field Seine uses, so bad data is rejected
// with the zod path of the field instead of surfacing later as an undefined IP or port.
import { z } from 'zod';
import { isDNS1123Label, isDNS1123Subdomain } from './meta.js';
// One IP and CIDR schema everywhere (net.ts): every address here may end up in an OpenFlow match
// or action, where a comma, "=" or newline would be read as more of the flow.
import { CIDRSchema, IPAddressSchema as IPSchema, ipFamily } from './net.js';

const LabelsSchema = z.record(z.string(), z.string());

// Names become store keys (`namespace/name`), log fields and cookie keys: only what the API server
// accepts (a "/" or a newline in a name from the lab file would otherwise make two objects one key).
const ObjectNameSchema = z.string().min(1).refine(isDNS1123Subdomain, {
  error: (issue) => `expected a DNS-1123 subdomain (lowercase alphanumerics, "-" and "."), got ${JSON.stringify(issue.input)}`,
});
const NamespaceNameSchema = z.string().min(1).refine(isDNS1123Label, {
  error: (issue) => `expected a DNS-1123 label (lowercase alphanumerics and "-", at most 63), got ${JSON.stringify(issue.input)}`,
});

export const ObjectMetaSchema = z.looseObject({
  name: ObjectNameSchema,
  namespace: NamespaceNameSchema.optional(),
  uid: z.string().min(1).optional(),
  resourceVersion: z.string().optional(),
  labels: LabelsSchema.optional(),
  annotations: LabelsSchema.optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

export const ProtocolSchema = z.enum(['TCP', 'UDP', 'SCTP']);
export type Protocol = z.infer<typeof ProtocolSchema>;

export const ContainerPortSchema = z.looseObject({
  name: z.string().min(1).optional(),
  containerPort: z.number().int().min(1).max(65535),
  // The API server defaults protocol to TCP; files written by hand may leave it out.
  protocol: ProtocolSchema.default('TCP'),
});

export const ContainerSchema = z.looseObject({
  name: z.string().min(1),
  ports: z.array(ContainerPortSchema).optional(),
});

export const PodSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Pod').optional(),
  metadata: ObjectMetaSchema.extend({ namespace: NamespaceNameSchema, uid: z.string().min(1) }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    containers: z.array(ContainerSchema),
  }),
  status: z
    .looseObject({
      phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).optional(),
      podIP: IPSchema.optional(),
      podIPs: z.array(z.looseObject({ ip: IPSchema })).optional(),
    })
    .optional(),
});
export type Pod = z.infer<typeof PodSchema>;

export const NamespaceSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Namespace').optional(),
  metadata: ObjectMetaSchema,
  status: z.looseObject({ phase: z.enum(['Active', 'Terminating']).optional() }).optional(),
});
export type Namespace = z.infer<typeof NamespaceSchema>;

/** Address types whose value is an IP (the agent routes and tunnels to InternalIP). */
const IP_ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP']);

export const NodeAddressSchema = z
  .looseObject({
    // InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS; kept open for new types.
    type: z.string().min(1),
    address: z.string().min(1),
  })
  .superRefine((a, ctx) => {
    if (IP_ADDRESS_TYPES.has(a.type) && ipFamily(a.address) === undefined) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: `expected an IPv4 or IPv6 address for type ${a.type}, got ${JSON.stringify(a.address)}` });
    }
  });

export const NodeSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Node').optional(),
  metadata: ObjectMetaSchema,
  spec: z
    .looseObject({
      podCIDR: CIDRSchema.optional(),
      podCIDRs: z.array(CIDRSchema).optional(),
    })
    .optional(),
  status: z.looseObject({ addresses: z.array(NodeAddressSchema).optional() }).optional(),
});
export type Node = z.infer<typeof NodeSchema>;

export const ServiceTypeSchema = z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
export type ServiceType = z.infer<typeof ServiceTypeSchema>;
export const TrafficPolicySchema = z.enum(['Cluster', 'Local']);
export type TrafficPolicy = z.infer<typeof TrafficPolicySchema>;

export const ServicePortSchema = z.looseObject({
  name: z.string().min(1).optional(),
  protocol: ProtocolSchema.default('TCP'),
  port: z.number().int().min(1).max(65535),
  /** A number, or the name of a container port; the API server defaults it to `port`. */
  targetPort: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).optional(),
  nodePort: z.number().int().min(1).max(65535).optional(),
});
export type ServicePort = z.infer<typeof ServicePortSchema>;

/** core/v1 Service: the fields Service load balancing reads (as `kubectl get svc -o json` prints them). */
export const ServiceSchema = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Service').optional(),
  metadata: ObjectMetaSchema.extend({ namespace: NamespaceNameSchema }),
  spec: z.looseObject({
    type: ServiceTypeSchema.default('ClusterIP'),
    // "None" for a headless Service: no load balancing.
    clusterIP: z.union([IPSchema, z.literal('None'), z.literal('')]).optional(),
    clusterIPs: z.array(z.union([IPSchema, z.literal('None')])).optional(),
    ports: z.array(ServicePortSchema).nullable().optional(),
    selector: LabelsSchema.nullable().optional(),
    sessionAffinity: z.enum(['None', 'ClientIP']).default('None'),
    sessionAffinityConfig: z.looseObject({
      clientIP: z.looseObject({ timeoutSeconds: z.number().int().min(1).max(86400).optional() }).optional(),
    }).optional(),
    externalTrafficPolicy: TrafficPolicySchema.optional(),
    internalTrafficPolicy: TrafficPolicySchema.optional(),
  }),
});
export type Service = z.infer<typeof ServiceSchema>;

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** discovery.k8s.io/v1 EndpointSlice; every address must be of the slice's addressType (as the API server validates). */
export const EndpointSliceSchema = z.looseObject({
  apiVersion: z.literal('discovery.k8s.io/v1').optional(),
  kind: z.literal('EndpointSlice').optional(),
  metadata: ObjectMetaSchema.extend({ namespace: NamespaceNameSchema }),
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z.array(z.looseObject({
    addresses: z.array(z.string().min(1)).min(1),
    conditions: z.looseObject({
      ready: z.boolean().nullable().optional(),
      serving: z.boolean().nullable().optional(),
      terminating: z.boolean().nullable().optional(),
    }).optional(),
    nodeName: z.string().optional(),
    targetRef: z.looseObject({ kind: z.string().optional(), namespace: z.string().optional(), name: z.string().optional() }).optional(),
  })).nullable().transform((e) => e ?? []),
  ports: z.array(z.looseObject({
    name: z.string().optional(),
    protocol: ProtocolSchema.default('TCP'),
    port: z.number().int().min(1).max(65535).nullable().optional(),
  })).nullable().optional(),
}).superRefine((slice, ctx) => {
  slice.endpoints.forEach((e, i) => {
    e.addresses.forEach((address, j) => {
      const ok = slice.addressType === 'FQDN' ? isDNS1123Subdomain(address) : ipFamily(address) === (slice.addressType === 'IPv4' ? 4 : 6);
      if (!ok) {
        const expected = slice.addressType === 'FQDN' ? 'a DNS name' : `an ${slice.addressType} address`;
        ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'addresses', j], message: `expected ${expected} (addressType ${slice.addressType}), got ${JSON.stringify(address)}` });
      }
    });
  });
});
export type EndpointSlice = z.infer<typeof EndpointSliceSchema>;

export const ListMetaSchema = z.looseObject({
  resourceVersion: z.string().min(1),
  continue: z.string().optional(),
});

/** PodList, NamespaceList, NodeList: items carry no kind/apiVersion of their own. */
export function listSchema<T extends z.ZodType>(item: T) {
  return z.looseObject({
    kind: z.string().optional(),
    apiVersion: z.string().optional(),
    metadata: ListMetaSchema,
    // Go encodes an empty slice as [] but a nil one as null.
    items: z.array(item).nullable().transform((items) => items ?? []),
  });
}
export const PodListSchema = listSchema(PodSchema);
export const NamespaceListSchema = listSchema(NamespaceSchema);
export const NodeListSchema = listSchema(NodeSchema);
export const ServiceListSchema = listSchema(ServiceSchema);
export const EndpointSliceListSchema = listSchema(EndpointSliceSchema);

/** metav1.Status: the body of a failed request and the object of a watch ERROR event. */
export const StatusSchema = z.looseObject({
  kind: z.literal('Status'),
  apiVersion: z.string().optional(),
  status: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().int().optional(),
});
export type Status = z.infer<typeof StatusSchema>;

export const WatchEventTypeSchema = z.enum(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);
export type WatchEventType = z.infer<typeof WatchEventTypeSchema>;

/**
 * One line of a watch stream. The object is checked per type by the reader: a BOOKMARK
 * object is an empty shell of the watched kind (`"containers":null` for a Pod) and an
 * ERROR object is a Status, so neither would pass the kind's own schema.
 */
export const WatchEventSchema = z.looseObject({
  type: WatchEventTypeSchema,
  object: z.looseObject({}),
});
export type WatchEvent = z.infer<typeof WatchEventSchema>;

/** A BOOKMARK's object: only metadata.resourceVersion (and, after initial events, an annotation) is set. */
export const BookmarkObjectSchema = z.looseObject({
  metadata: z.looseObject({
    resourceVersion: z.string().min(1),
    annotations: LabelsSchema.optional(),
  }),
});

/** Set on the BOOKMARK that closes the initial events of a watch with sendInitialEvents=true. */
export const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

/** The label the API server puts on every namespace (since Kubernetes 1.21). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * A `kind: List` of nodes, namespaces, pods, services and endpoint slices, the shape `kubectl get
 * nodes,namespaces,pods,services,endpointslices -o json` prints. The lab writes its inventory in this shape, so the file and the API server
 * feed the agent the same objects.
 */
export const InventoryItemSchema = z.discriminatedUnion('kind', [
  PodSchema.extend({ kind: z.literal('Pod') }),
  NamespaceSchema.extend({ kind: z.literal('Namespace') }),
  NodeSchema.extend({ kind: z.literal('Node') }),
  ServiceSchema.extend({ kind: z.literal('Service') }),
  EndpointSliceSchema.safeExtend({ kind: z.literal('EndpointSlice') }),
]);
export type InventoryItem = z.infer<typeof InventoryItemSchema>;

export const InventoryListSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('List'),
  items: z.array(InventoryItemSchema),
});
export type InventoryList = z.infer<typeof InventoryListSchema>;
