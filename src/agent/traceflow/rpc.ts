// The Traceflow methods of the agent's request/response registry (the controller calls them).
import {
  TRACEFLOW_RPC, TraceflowCollectParamsSchema, TraceflowResolveParamsSchema, TraceflowStartParamsSchema, TraceflowStopParamsSchema,
} from '../../api/traceflow.js';
import type { RpcHandlers } from '../sync/rpc-handlers.js';
import type { TraceflowAgent } from './sessions.js';

export function registerTraceflowMethods(rpc: RpcHandlers, tf: TraceflowAgent): void {
  rpc.register(TRACEFLOW_RPC.start, { params: TraceflowStartParamsSchema, handle: (p) => tf.start(p) });
  rpc.register(TRACEFLOW_RPC.collect, { params: TraceflowCollectParamsSchema, handle: (p) => tf.collect(p.tag, p.waitMs) });
  rpc.register(TRACEFLOW_RPC.stop, { params: TraceflowStopParamsSchema, handle: async (p) => tf.stop(p.tag) });
  rpc.register(TRACEFLOW_RPC.resolve, { params: TraceflowResolveParamsSchema, handle: async (p) => tf.resolveService(p) });
}
