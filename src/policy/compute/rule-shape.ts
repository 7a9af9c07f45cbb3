// The Antrea-native policy shape the tiered drafting reads: Antrea's own policies as they are,
// the upstream ones (upstream.ts) mapped onto it. A module of its own so both can import it.
import type { LabelSelector } from '../../api/meta.js';
import type { RuleAction } from '../../api/antrea-policy.js';
import type { AnyPeer } from './peers.js';
import type { portSpecs } from './services.js';

export interface AntreaRule {
  action: RuleAction;
  name?: string | undefined;
  appliedTo?: AppliedToEntry[] | undefined;
  ports?: Parameters<typeof portSpecs>[0];
  protocols?: Parameters<typeof portSpecs>[1];
  l7Protocols?: unknown[] | undefined;
  toServices?: { name: string; namespace?: string | undefined; scope?: string | undefined }[] | undefined;
  enableLogging?: boolean | undefined;
  logLabel?: string | undefined;
  from?: AnyPeer[] | undefined;
  to?: AnyPeer[] | undefined;
}

export interface AppliedToEntry {
  podSelector?: LabelSelector | undefined;
  namespaceSelector?: unknown;
  group?: string | undefined;
  serviceAccount?: unknown;
  service?: unknown;
  nodeSelector?: unknown;
  externalEntitySelector?: unknown;
}

/** What draftTiered needs of a policy: Antrea's spec shape (upstream policies are mapped onto it). */
export interface TieredSpec {
  priority: number;
  appliedTo?: readonly AppliedToEntry[] | undefined;
  ingress?: readonly AntreaRule[] | undefined;
  egress?: readonly AntreaRule[] | undefined;
}
