// What seine-policy works out before and after talking to the controller: the manifests of a
// message (validated with the shared schemas), their REST paths, and one status for many objects.
import type { PolicyStatus } from '../../src/api/controller-api.js';
import { findKind, type ManifestObject } from '../../src/api/kinds.js';
import { parseManifests } from '../../src/api/manifest.js';
import { resourceUrl } from '../../src/controller/client/rest-client.js';
import type { NodeMessage, NodeStatus } from './red.js';

export interface ObjectRef {
  url: string;
  label: string;
}

const PHASE_RANK: Record<string, number> = { Realized: 0, Realizing: 1, Pending: 2, Failed: 3 };

/** One status for all watched objects: the worst phase, nodes realized summed. */
/** One status for all watched objects: the worst phase, nodes realized summed. */
export function phaseStatus(objects: { name: string; status?: PolicyStatus }[]): NodeStatus & { phase: string } {
  const withStatus = objects.filter((o) => o.status && 'phase' in o.status);
  if (!withStatus.length) return { fill: 'grey', shape: 'ring', text: 'no status', phase: 'Unknown' };
  const worst = withStatus.reduce((a, b) => ((PHASE_RANK[b.status!.phase] ?? 0) > (PHASE_RANK[a.status!.phase] ?? 0) ? b : a));
  const phase = worst.status!.phase;
  const cur = withStatus.reduce((n, o) => n + o.status!.currentNodesRealized, 0);
  const want = withStatus.reduce((n, o) => n + o.status!.desiredNodesRealized, 0);
  const what = objects.length > 1 ? ` (${objects.length} objects)` : '';
  const fill = phase === 'Realized' ? 'green' : phase === 'Failed' ? 'red' : phase === 'Realizing' ? 'yellow' : 'grey';
  return { fill, shape: phase === 'Realized' || phase === 'Failed' ? 'dot' : 'ring', text: `${phase} ${cur}/${want}${what}`, phase };
}

export function refOf(o: { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string } }): ObjectRef {
  const kind = findKind(o.apiVersion, o.kind);
  if (!kind) throw new Error(`kind: unknown ${o.kind} (${o.apiVersion})`);
  const ns = kind.namespaced ? (o.metadata.namespace ?? 'default') : undefined;
  return { url: resourceUrl(kind, ns, o.metadata.name), label: `${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name}` };
}

/** The manifests to act on: msg.payload (text, object or array) or else the node's Policy. */
export function manifestsFrom(msg: NodeMessage, configured: string | undefined): ManifestObject[] {
  const p = msg.payload;
  const fromMsg = typeof p === 'string' ? p.trim() !== '' : p !== null && typeof p === 'object' && !Buffer.isBuffer(p);
  if (fromMsg) return parseManifests(typeof p === 'string' ? p : JSON.stringify(Array.isArray(p) ? { apiVersion: 'v1', kind: 'List', items: p } : p), 'msg.payload');
  if (configured?.trim()) return parseManifests(configured, 'policy');
  throw new Error('policy: no manifest: write one in the node\'s Policy field or send it in msg.payload');
}
