// The building blocks of Antrea-native policy rules: appliedTo entries, to/from peers, ports and
// protocols. Field sets follow Antrea's CRDs (build/charts/antrea/crds), per policy scope; the
// combination rules follow pkg/controller/networkpolicy/validate.go. Fields Seine does not
// enforce yet (serviceAccount, service, scope ClusterSet, externalEntitySelector) are accepted
// here so Antrea YAML loads; the controller reports them as not supported. `nodeSelector` is
// enforced: as a from/to peer, in pod and host rules alike, it is the selected Nodes' addresses
// (policy/compute/node-peers.ts); in an ACNP's policy-level appliedTo it makes a policy applied
// to Nodes (host-policy.ts, which refuses it in a rule's appliedTo or beside pod entries).
import { z } from 'zod';
import { LabelSelectorSchema, NamespacedNameSchema, isQualifiedName } from './meta.js';
import { IPAddressSchema, IPBlockSchema, PortSchema, TransportProtocolSchema, portRangeIssues } from './net.js';

type Ctx = z.core.$RefinementCtx;

function reject(ctx: Ctx, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

/** Fields present (not undefined) in a parsed object, in declaration order. */
function present(obj: object): string[] {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
}

// Fields that must stand alone in an appliedTo entry or peer (Antrea: numFieldsSetInStruct > 1).
const ALONE = ['group', 'serviceAccount', 'service', 'nodeSelector', 'fqdn'] as const;

function checkAlone(entry: object, ctx: Ctx, where: string): void {
  const fields = present(entry);
  if (fields.length < 2) return;
  for (const field of ALONE) {
    if (fields.includes(field)) {
      const others = fields.filter((f) => f !== field).join(', ');
      reject(ctx, [field], `${field} cannot be combined with other fields in ${where} (also set: ${others})`);
      return;
    }
  }
}

function checkAppliedTo(entry: { ipBlock?: unknown }, ctx: Ctx): void {
  if (entry.ipBlock !== undefined) {
    reject(ctx, ['ipBlock'], 'ipBlock is not allowed in appliedTo (use a peer in from/to instead)');
    return;
  }
  checkAlone(entry, ctx, 'an appliedTo entry');
}

/** ClusterNetworkPolicy appliedTo (policy level or per rule). */
export const ClusterAppliedToSchema = z
  .strictObject({
    podSelector: LabelSelectorSchema.optional(),
    namespaceSelector: LabelSelectorSchema.optional(),
    group: z.string().min(1).optional(),
    serviceAccount: NamespacedNameSchema.optional(),
    service: NamespacedNameSchema.optional(),
    nodeSelector: LabelSelectorSchema.optional(),
    // Not part of the API; declared only to explain the rejection on its own path.
    ipBlock: z.unknown().optional(),
  })
  .superRefine(checkAppliedTo);
export type ClusterAppliedTo = z.infer<typeof ClusterAppliedToSchema>;

/** Antrea NetworkPolicy appliedTo: namespaced, so no namespaceSelector. */
export const NamespacedAppliedToSchema = z
  .strictObject({
    podSelector: LabelSelectorSchema.optional(),
    externalEntitySelector: LabelSelectorSchema.optional(),
    group: z.string().min(1).optional(),
    namespaceSelector: z.unknown().optional(),
    ipBlock: z.unknown().optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.namespaceSelector !== undefined) {
      reject(ctx, ['namespaceSelector'], 'namespaceSelector is not allowed in the appliedTo of an Antrea NetworkPolicy (it is namespaced)');
      return;
    }
    checkAppliedTo(entry, ctx);
  });
export type NamespacedAppliedTo = z.infer<typeof NamespacedAppliedToSchema>;

/** `namespaces:` in an ACNP peer: exactly one of `match: Self` or `sameLabels`. */
export const PeerNamespacesSchema = z
  .strictObject({
    match: z.enum(['Self']).optional(),
    sameLabels: z.array(z.string()).optional(),
  })
  .superRefine((ns, ctx) => {
    if ((ns.match === undefined) === (ns.sameLabels === undefined)) {
      reject(ctx, [], 'set exactly one of match or sameLabels');
    }
    ns.sameLabels?.forEach((key, i) => {
      if (!isQualifiedName(key)) reject(ctx, ['sameLabels', i], `invalid label key ${JSON.stringify(key)}`);
    });
  });

function checkPeer(peer: Record<string, unknown>, ctx: Ctx): void {
  if (peer.namespaces !== undefined && peer.namespaceSelector !== undefined) {
    reject(ctx, ['namespaces'], 'namespaces and namespaceSelector cannot both be set in one peer');
  }
  if (peer.group !== undefined) {
    const others = present(peer).filter((f) => f !== 'group');
    if (others.length > 0) {
      reject(ctx, ['group'], `group cannot be combined with ${others.join(', ')} in one peer`);
      return;
    }
  }
  if (peer.ipBlock !== undefined) {
    const selectors = ['podSelector', 'namespaceSelector', 'namespaces'].filter((f) => peer[f] !== undefined);
    if (selectors.length > 0) {
      reject(ctx, ['ipBlock'], `ipBlock cannot be combined with ${selectors.join(', ')} in one peer`);
      return;
    }
  }
  checkAlone(peer, ctx, 'a peer');
}

// Antrea's two formats (crd/v1beta1 types.go): an exact name ("google.com") or a wildcard
// expression with a leading `*` ("*wayfair.com", "*.example.com"). Antrea's webhook checks only
// the characters ([-0-9a-zA-Z.*]); Seine also refuses a `*` elsewhere than first, empty labels
// and over-long names, which could never match a name a DNS answer carries.
const FQDN_LABEL = /^[0-9a-z]([-0-9a-z]{0,61}[0-9a-z])?$/i;

/** Why `value` is not an fqdn peer Seine accepts; undefined when it is one. */
export function fqdnPatternIssue(value: string): string | undefined {
  if (!/^[-0-9a-zA-Z.*]+$/.test(value)) return 'only letters, digits, "-", "." and a leading "*" are allowed';
  const wildcard = value.startsWith('*');
  const rest = (wildcard ? value.slice(1) : value).replace(/\.$/, '');
  if (rest.includes('*')) return '"*" is only allowed as the first character (a wildcard such as "*.example.com")';
  if (rest.length > 253) return 'longer than 253 characters';
  const labels = (wildcard && rest.startsWith('.') ? rest.slice(1) : rest).split('.');
  if (wildcard && rest === '') return 'a lone "*" matches every name: use an empty `to` (any address) instead';
  const bad = labels.find((l) => !FQDN_LABEL.test(l));
  if (bad !== undefined) return bad === '' ? 'empty label (two dots, or a leading dot)' : `label ${JSON.stringify(bad)} is not a DNS label (1-63 letters, digits and inner "-")`;
  return undefined;
}

/** `fqdn:` of an egress peer: an exact name or a leading-`*` wildcard (matched case-insensitively). */
export const FqdnPatternSchema = z.string().superRefine((v, ctx) => {
  const issue = fqdnPatternIssue(v);
  if (issue) ctx.addIssue({ code: 'custom', message: `invalid fqdn ${JSON.stringify(v)}: ${issue}` });
});

const commonPeerFields = {
  podSelector: LabelSelectorSchema.optional(),
  namespaceSelector: LabelSelectorSchema.optional(),
  ipBlock: IPBlockSchema.optional(),
  group: z.string().min(1).optional(),
  nodeSelector: LabelSelectorSchema.optional(),
};

/** ACNP ingress `from` entry. `scope` is Antrea multi-cluster (Cluster|ClusterSet). */
export const ClusterIngressPeerSchema = z
  .strictObject({
    ...commonPeerFields,
    namespaces: PeerNamespacesSchema.optional(),
    serviceAccount: NamespacedNameSchema.optional(),
    scope: z.enum(['Cluster', 'ClusterSet']).optional(),
  })
  .superRefine(checkPeer);

/** ACNP egress `to` entry. `fqdn` is egress-only. */
export const ClusterEgressPeerSchema = z
  .strictObject({
    ...commonPeerFields,
    namespaces: PeerNamespacesSchema.optional(),
    serviceAccount: NamespacedNameSchema.optional(),
    fqdn: FqdnPatternSchema.optional(),
  })
  .superRefine(checkPeer);

/** Antrea NetworkPolicy `from` entry (no `namespaces`, no serviceAccount). */
export const NamespacedIngressPeerSchema = z
  .strictObject({
    ...commonPeerFields,
    externalEntitySelector: LabelSelectorSchema.optional(),
    scope: z.enum(['Cluster', 'ClusterSet']).optional(),
  })
  .superRefine(checkPeer);

/** Antrea NetworkPolicy `to` entry. */
export const NamespacedEgressPeerSchema = z
  .strictObject({
    ...commonPeerFields,
    externalEntitySelector: LabelSelectorSchema.optional(),
    fqdn: FqdnPatternSchema.optional(),
  })
  .superRefine(checkPeer);

export type AntreaPeer =
  | z.infer<typeof ClusterIngressPeerSchema>
  | z.infer<typeof ClusterEgressPeerSchema>
  | z.infer<typeof NamespacedIngressPeerSchema>
  | z.infer<typeof NamespacedEgressPeerSchema>;

/** Antrea's `ports` entry: K8s' plus source port ranges. */
export const AntreaPortSchema = z
  .strictObject({
    protocol: TransportProtocolSchema.optional(),
    port: PortSchema.optional(),
    endPort: z.number().int().optional(),
    sourcePort: z.number().int().min(1).max(65535).optional(),
    sourceEndPort: z.number().int().optional(),
  })
  .superRefine((p, ctx) => {
    const issues = [
      ...portRangeIssues(p.port, p.endPort),
      ...portRangeIssues(p.sourcePort, p.sourceEndPort, { port: 'sourcePort', endPort: 'sourceEndPort' }),
    ];
    for (const issue of issues) ctx.addIssue({ code: 'custom', ...issue });
  });

const ICMPSchema = z.strictObject({
  icmpType: z.number().int().min(0).max(255).optional(),
  icmpCode: z.number().int().min(0).max(255).optional(),
});

// IGMP: only queries (0x11) can be matched on ingress, only reports (0x12, 0x16, 0x22) on egress.
function protocolsSchema(igmpTypes: readonly [number, ...number[]]) {
  return z
    .strictObject({
      icmp: ICMPSchema.optional(),
      igmp: z
        .strictObject({
          igmpType: z.literal(igmpTypes).optional(),
          groupAddress: IPAddressSchema.optional(),
        })
        .optional(),
    })
    .superRefine((p, ctx) => {
      if ((p.icmp === undefined) === (p.igmp === undefined)) reject(ctx, [], 'set exactly one of icmp or igmp');
    });
}

export const IngressProtocolSchema = protocolsSchema([0x11]);
export const EgressProtocolSchema = protocolsSchema([0x12, 0x16, 0x22]);

/** Layer-7 matches (http, tls). Not enforced by Seine; kept loose so Antrea YAML loads. */
export const L7ProtocolSchema = z.looseObject({
  http: z.looseObject({}).optional(),
  tls: z.looseObject({}).optional(),
});

// `toServices` entries (egress only): a Service by name, matched by its cluster IP, port and
// protocol before load balancing. Names are free strings as in Antrea's CRD (they are looked up
// in the box's Services, never written into a flow); `scope: ClusterSet` (multi-cluster) loads
// but the computation refuses it.
const serviceReferenceFields = {
  name: z.string().min(1),
  scope: z.enum(['Cluster', 'ClusterSet']).optional(),
};

/** ClusterNetworkPolicy `toServices` entry: the namespace is required (Antrea's CRD). */
export const ClusterServiceReferenceSchema = z.strictObject({ ...serviceReferenceFields, namespace: z.string().min(1) });

/** Antrea NetworkPolicy `toServices` entry: the namespace defaults to the policy's own. */
export const NamespacedServiceReferenceSchema = z.strictObject({ ...serviceReferenceFields, namespace: z.string().min(1).optional() });
