// Host firewall: Antrea's NodeNetworkPolicy (docs/antrea-node-network-policy.md), an Antrea
// ClusterNetworkPolicy whose policy-level appliedTo selects Nodes with `nodeSelector`. Its rules
// guard the box's own host network (the host's iptables INPUT and OUTPUT), not pods.
// Here: how such a policy is recognised, the admission checks Antrea's webhook and docs impose
// on it (each naming its field), and the contract of one realized host rule — every value that
// reaches an iptables line on the box is checked by HostRuleSchema first.
import { z } from 'zod';
import { CIDRSchema, DeviceNameSchema, PortNumberSchema, ipFamily, parseCIDR } from './net.js';

type Ctx = z.core.$RefinementCtx;

interface PeerShape {
  nodeSelector?: unknown;
  fqdn?: unknown;
  namespaces?: unknown;
}
interface PortShape {
  port?: number | string | undefined;
}
interface RuleShape {
  appliedTo?: readonly { nodeSelector?: unknown }[] | undefined;
  from?: readonly PeerShape[] | undefined;
  to?: readonly PeerShape[] | undefined;
  ports?: readonly PortShape[] | undefined;
  toServices?: unknown;
  l7Protocols?: readonly unknown[] | undefined;
}
interface SpecShape {
  appliedTo?: readonly { nodeSelector?: unknown }[] | undefined;
  ingress?: readonly RuleShape[] | undefined;
  egress?: readonly RuleShape[] | undefined;
}

/** A policy spec applied to Nodes: some spec.appliedTo entry is a nodeSelector. */
export function isHostPolicySpec(spec: SpecShape | undefined): boolean {
  return !!spec?.appliedTo?.some((a) => a.nodeSelector !== undefined);
}

/** An Antrea ClusterNetworkPolicy applied to Nodes (the only kind Antrea applies to Nodes). */
export function isHostPolicy(o: { apiVersion?: string; kind?: string; spec?: unknown }): boolean {
  return o.kind === 'ClusterNetworkPolicy' && !!o.apiVersion?.startsWith('crd.antrea.io/') && isHostPolicySpec(o.spec as SpecShape);
}

/**
 * The checks for nodeSelector in an ACNP (Antrea's docs, Limitations): nodeSelector only in the
 * policy-level appliedTo, never mixed with Pod entries there; and what a rule of a policy
 * applied to Nodes cannot have: fqdn peers, toServices, Layer 7 rules (Antrea), `namespaces`
 * peers (they need a Pod's namespace) and named ports (a Node has no container ports).
 */
export function checkNodeAppliedTo(spec: SpecShape, ctx: Ctx): void {
  for (const dir of ['ingress', 'egress'] as const) {
    spec[dir]?.forEach((rule, i) => {
      rule.appliedTo?.forEach((a, j) => {
        if (a.nodeSelector !== undefined) {
          ctx.addIssue({ code: 'custom', path: [dir, i, 'appliedTo', j, 'nodeSelector'], message: 'nodeSelector can only be set in the policy-level appliedTo (spec.appliedTo), not in a rule\'s' });
        }
      });
    });
  }
  if (!isHostPolicySpec(spec)) return;
  spec.appliedTo!.forEach((a, i) => {
    if (a.nodeSelector === undefined) {
      ctx.addIssue({ code: 'custom', path: ['appliedTo', i], message: 'a policy applied to Nodes (nodeSelector) cannot also apply to Pods: every spec.appliedTo entry must be a nodeSelector' });
    }
  });
  const refuse = (path: PropertyKey[], what: string) => ctx.addIssue({ code: 'custom', path, message: `${what} cannot be used in a policy applied to Nodes (nodeSelector)` });
  for (const dir of ['ingress', 'egress'] as const) {
    const peerField = dir === 'ingress' ? 'from' : 'to';
    spec[dir]?.forEach((rule, i) => {
      if (rule.toServices !== undefined) refuse([dir, i, 'toServices'], 'toServices');
      if (rule.l7Protocols?.length) refuse([dir, i, 'l7Protocols'], 'Layer 7 rules (l7Protocols)');
      rule[peerField]?.forEach((peer, j) => {
        if (peer.fqdn !== undefined) refuse([dir, i, peerField, j, 'fqdn'], 'fqdn peers');
        if (peer.namespaces !== undefined) refuse([dir, i, peerField, j, 'namespaces'], 'namespaces peers (they need a Pod\'s namespace)');
      });
      rule.ports?.forEach((p, j) => {
        if (typeof p.port === 'string') refuse([dir, i, 'ports', j, 'port'], `the named port ${JSON.stringify(p.port)} (a Node has no container ports)`);
      });
    });
  }
}

// ---- the realized rule: what the agent's iptables planner takes -----------------------------

/** A DNS-1123 policy name with its kind prefix, e.g. `acnp:protect-ssh`: safe inside a quoted comment. */
const PolicyTagSchema = z.string().regex(/^[a-z]+:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { error: 'expected <kind>:<DNS-1123 name>' });

const IPv4CIDRSchema = CIDRSchema.refine((c) => parseCIDR(c)?.family === 4, { error: 'expected an IPv4 CIDR (the host firewall is IPv4 only)' });

export const HostRuleServiceSchema = z.union([
  z.strictObject({ protocol: z.enum(['TCP', 'UDP', 'SCTP']), port: PortNumberSchema.optional(), endPort: PortNumberSchema.optional() }),
  z.strictObject({ protocol: z.literal('ICMP'), icmpType: z.number().int().min(0).max(255).optional(), icmpCode: z.number().int().min(0).max(255).optional() }),
]);

export const HostRuleSchema = z.strictObject({
  /** Stable id of the rule (policy, direction, index); hashed into the iptables comment. */
  id: z.string().min(1),
  policy: PolicyTagSchema,
  direction: z.enum(['ingress', 'egress']),
  /** The rule's index in spec.ingress / spec.egress (the comment says `ingress[0]`). */
  ruleIndex: z.number().int().nonnegative(),
  action: z.enum(['Allow', 'Drop', 'Reject', 'Pass']),
  /** Baseline-tier rules go after every other tier's, and are where Pass leads. */
  baseline: z.boolean(),
  /** undefined: every address; else these IPv4 CIDRs (addresses as /32). */
  cidrs: z.array(IPv4CIDRSchema).optional(),
  /** undefined: every protocol and port. */
  services: z.array(HostRuleServiceSchema).min(1).optional(),
  /** enableLogging: each packet reaching the rule goes to the agent's NFLOG group first (np.log). */
  log: z.boolean(),
});
export type HostRuleSpec = z.infer<typeof HostRuleSchema>;

/** An address the box must always reach (the controller, the k3s API server): kept open ahead of every host rule. */
export const HostEgressExemptionSchema = z.strictObject({
  ip: z.string().refine((s) => ipFamily(s) === 4, { error: 'expected an IPv4 address' }),
  /** undefined: every TCP port of that address. */
  port: PortNumberSchema.optional(),
  /** What it is, for the comment. */
  what: z.enum(['controller', 'kubernetes-api']),
});

/**
 * The overlay's own packets, in and out (tunnel or WireGuard): the pods' traffic inside them is
 * policed in OVS once unwrapped. With the kernel datapath they pass the host's INPUT and OUTPUT,
 * where a drop-all rule would cut the box's pods off the other boxes.
 */
export const HostOverlayExemptionSchema = z
  .strictObject({
    protocol: z.enum(['udp', 'gre']),
    /** The UDP destination port (none for GRE). */
    port: PortNumberSchema.optional(),
    /** Only packets coming in on / going out of this device. */
    device: DeviceNameSchema.optional(),
    what: z.enum(['tunnel', 'wireguard', 'wireguard-egress']),
  })
  .refine((e) => (e.protocol === 'udp') === (e.port !== undefined), { error: 'a UDP exemption needs a port, a GRE one has none', path: ['port'] });

export const HostExemptionSchema = z.union([HostEgressExemptionSchema, HostOverlayExemptionSchema]);
export type HostEgressExemption = z.infer<typeof HostEgressExemptionSchema>;
export type HostOverlayExemption = z.infer<typeof HostOverlayExemptionSchema>;
export type HostExemption = HostEgressExemption | HostOverlayExemption;

export function isOverlayExemption(e: HostExemption): e is HostOverlayExemption {
  return 'protocol' in e;
}
