// How a finished Traceflow ended, in a few words for the node's status and msg.topic.
import type { TraceflowObservation } from '../../src/api/traceflow.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import type { NodeStatus } from './red.js';

/** The hop where the packet ended: the verdict shown on the node and sent as msg.topic. */
export function outcome(view: TraceflowView): { text: string; fill: NodeStatus['fill']; last?: TraceflowObservation } {
  const st = view.status;
  if (st?.phase !== 'Succeeded') return { text: `${st?.phase ?? 'Failed'}: ${st?.reason ?? 'no result'}`, fill: 'red' };
  const last = st.results?.at(-1)?.observations.at(-1);
  const nodes = st.results?.length ?? 0;
  if (!last) return { text: 'Succeeded', fill: 'green' };
  const bad = last.action === 'Dropped' || last.action === 'Rejected';
  // "AntreaClusterNetworkPolicy:deny-web" → "deny-web" (the kind stays in msg.payload).
  const policy = last.networkPolicy?.replace(/^[A-Za-z]+:/, '');
  const by = policy ? ` by ${policy}${last.networkPolicyRule ? `, rule ${last.networkPolicyRule}` : ''}` : '';
  return { text: `${last.action}${bad ? by : ''} (${nodes} node${nodes === 1 ? '' : 's'})`, fill: bad ? 'yellow' : 'green', last };
}
