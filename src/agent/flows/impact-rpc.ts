// The box's impact-preview and recommendation methods of its request/response registry: it reads
// its own flow store and, for a preview, evaluates every distinct connection of the window in the
// world before and after the change the controller sends (policy objects only; the box has the
// inventory). The box speaks for the connections its own pods started, and for those from outside
// the fleet to its pods; the other box of an inter-node connection lists it too, without counting it.
import { IMPACT_RPC, ConnectionsRpcParamsSchema, ImpactRpcParamsSchema, type ConnectionsRpcResult, type ImpactNodeResult } from '../../api/impact.js';
import type { Inventory } from '../../api/inventory.js';
import type { ManifestObject } from '../../api/kinds.js';
import { previewImpact, worldAfter, type ConnectionEvaluator } from '../../policy/impact.js';
import type { RpcHandlers } from '../sync/rpc-handlers.js';
import { recordedConnections, type NodedConnection } from './connections.js';
import type { FlowStore } from './store.js';

/** A box has at most this many distinct connections in a window it evaluates (the store's bound is far below). */
const SCAN_MAX = 1_000_000;

export interface ImpactMethodsOptions {
  node: string;
  store: FlowStore;
  inventory: () => Inventory;
  /** The evaluator of a world: these policy objects over this inventory. */
  evaluator: (objects: readonly ManifestObject[], inventory: Inventory) => ConnectionEvaluator;
}

/** Whether this box counts the connection (see the header). */
export const ownedBy = (node: string, c: NodedConnection): boolean =>
  c.sourceNode === node || (c.sourceNode === '' && c.destinationNode === node) || (c.sourceNode === '' && c.destinationNode === '');

export function registerImpactMethods(rpc: RpcHandlers, o: ImpactMethodsOptions): void {
  rpc.register(IMPACT_RPC.connections, {
    params: ConnectionsRpcParamsSchema,
    handle: async (p): Promise<ConnectionsRpcResult> => {
      const r = await recordedConnections(o.store.db, p);
      return { connections: r.connections.map((c) => c.connection), truncated: r.truncated };
    },
  });
  rpc.register(IMPACT_RPC.impact, {
    params: ImpactRpcParamsSchema,
    handle: async (p): Promise<ImpactNodeResult> => {
      const t0 = performance.now();
      const { connections } = await recordedConnections(o.store.db, { since: p.since, until: p.until, limit: SCAN_MAX });
      const inventory = o.inventory();
      const before = o.evaluator(p.current, inventory);
      const after = o.evaluator(worldAfter(p.current, p.apply, p.remove), inventory);
      const out = previewImpact(connections.map((c) => ({ connection: c.connection, owned: ownedBy(o.node, c) })), before, after, p.limit);
      return { ...out, ms: Math.round(performance.now() - t0) };
    },
  });
}
