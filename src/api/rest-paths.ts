// Kubernetes-shaped resource paths, generated from the kind registry:
//   /apis/<group>/<version>/<plural>[/<name>]                       cluster-scoped kinds
//   /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>]       namespaced kinds
//   /apis/<group>/<version>/<plural>                                namespaced kinds, all namespaces
import { KINDS, type KindInfo } from './kinds.js';
import { STATS_API_VERSION, STATS_KINDS, type StatsKind } from './policy-stats.js';

export interface ResourcePath {
  kind: KindInfo;
  /** The apiVersion the path names (`group/version`). */
  apiVersion: string;
  namespace?: string;
  name?: string;
}

/** Servable `group/version` per kind (the core group has no `group/` part; none of ours is core). */
export function resourceBase(kind: KindInfo, apiVersion = kind.apiVersions[kind.apiVersions.length - 1]!): string {
  return `/apis/${apiVersion}`;
}

export function resourceUrl(kind: KindInfo, namespace?: string, name?: string): string {
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${resourceBase(kind)}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'apis' || parts.length < 4) return undefined;
  const apiVersion = `${parts[1]}/${parts[2]}`;
  let rest = parts.slice(3);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 2) return undefined;
  const kind = KINDS.find((k) => k.plural === rest[0] && (k.apiVersions as readonly string[]).includes(apiVersion));
  if (!kind) return undefined;
  if (namespace !== undefined && !kind.namespaced) return undefined;
  return { kind, apiVersion, ...(namespace !== undefined ? { namespace } : {}), ...(rest[1] !== undefined ? { name: rest[1] } : {}) };
}

/** `/apis/stats.crd.antrea.io/v1alpha1/[namespaces/<ns>/]<plural>[/<name>]` (read-only). */
export function parseStatsPath(pathname: string): { kind: StatsKind; namespace?: string; name?: string } | undefined {
  const prefix = `/apis/${STATS_API_VERSION}/`;
  if (!pathname.startsWith(prefix)) return undefined;
  let rest = pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 2) return undefined;
  const kind = STATS_KINDS.find((k) => k.plural === rest[0]);
  if (!kind || (namespace !== undefined && !kind.namespaced)) return undefined;
  return { kind, ...(namespace !== undefined ? { namespace } : {}), ...(rest[1] !== undefined ? { name: rest[1] } : {}) };
}

export function statsUrl(kind: StatsKind, namespace?: string, name?: string): string {
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `/apis/${STATS_API_VERSION}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
