// Policy status from node reports (Antrea's NetworkPolicyStatus): a node counts as realized
// when it reports this generation Realized; any node reporting this generation Failed fails the
// object; nobody realized yet is Pending, some is Realizing, all of the span (even none) Realized.
import type { NodeRealization, PolicyStatus } from './controller-api.js';
import { objectKey, type NodeReported, type ObjectRef } from './node-state.js';

type Reports = ReadonlyMap<string, Pick<NodeReported, 'objects'>>;
type Subject = ObjectRef & { generation: number };

export function computeStatus(record: Subject, spanNodes: readonly string[], reports: Reports): PolicyStatus {
  const key = objectKey(record);
  let realized = 0;
  const failures: string[] = [];
  for (const node of spanNodes) {
    const got = reports.get(node)?.objects[key];
    if (!got || got.generation !== record.generation) continue;
    if (got.phase === 'Realized') realized++;
    else failures.push(`${node}: ${got.reason ?? 'failed'}`);
  }
  const desired = spanNodes.length;
  // A policy that applies to no pod has nothing to realize: Realized with 0/0, as in Antrea.
  const phase = failures.length ? 'Failed' : realized === desired ? 'Realized' : realized > 0 ? 'Realizing' : 'Pending';
  return {
    phase,
    observedGeneration: record.generation,
    currentNodesRealized: realized,
    desiredNodesRealized: desired,
    ...(failures.length
      ? { conditions: [{ type: 'Realized', status: 'False' as const, reason: 'NodeFailure', message: failures.slice(0, 5).join('; ') }] }
      : {}),
  };
}

/** Per node of the span: what it reports for this object (describe shows it). */
export function nodeRealization(record: Subject, spanNodes: readonly string[], reports: Reports, online: (node: string) => boolean): NodeRealization[] {
  const key = objectKey(record);
  return spanNodes.map((node) => {
    const got = reports.get(node)?.objects[key];
    const current = got?.generation === record.generation;
    return {
      node,
      online: online(node),
      realizedGeneration: got?.generation ?? null,
      phase: got && current ? got.phase : 'Pending',
      ...(got?.reason ? { reason: got.reason } : !current && got ? { reason: `generation ${got.generation} realized, ${record.generation} pending` } : {}),
    };
  });
}
