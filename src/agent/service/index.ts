// Service load balancing in the agent: the flow feature, the host side of NodePorts, and the
// inventory changes that ask for a datapath sync. The agent registers it in one call.
import { CoalescingRunner } from '../../lib/coalesce.js';
import { createLogger } from '../../lib/log.js';
import { learnedFilter, LearnedKind } from '../flows/accounting.js';
import type { Inventory, InventorySource } from '../../api/inventory.js';
import type { OpenFlowBridge } from '../ovs/bridge.js';
import type { CookieFilter } from '../ovs/cookie.js';
import { affinityCookie } from './flows.js';
import { ServiceFeature } from './feature.js';
import { NodePortHost } from './nodeport-host.js';
import { planServices } from './plan.js';

const log = createLogger('service');

export { ServiceFeature } from './feature.js';

export interface ServicesOptions {
  nodeName: string;
  inventory: InventorySource;
  bridge: OpenFlowBridge;
  gateway: { name: string; ip: string };
  pods: () => Promise<{ key: string; ip: string; ofport: number }[]>;
  sync: () => Promise<void>;
}

/** Only the Services with a node port (all the host chain needs): a Service change does not plan every Service's endpoints. */
function withNodePorts(inv: Inventory): Inventory {
  return { ...inv, services: new Map([...(inv.services ?? [])].filter(([, s]) => s.ports.some((p) => p.nodePort))) };
}

/** Wires Service load balancing; returns the feature for the datapath. */
export function startServices(o: ServicesOptions): ServiceFeature {
  const nodePorts = new NodePortHost(o.gateway.name);
  const feature = new ServiceFeature({
    nodeName: o.nodeName,
    inventory: () => o.inventory.snapshot(),
    gatewayIP: o.gateway.ip,
    pods: o.pods,
    onEndpointsRemoved: (ids) => {
      // A client's learned endpoint may be gone: forget the group's affinities (clients pick again).
      for (const id of ids) {
        const cookie = affinityCookie(id);
        const scope: CookieFilter = { value: cookie, mask: learnedFilter(LearnedKind.SessionAffinity).mask | 0xffffffffn };
        o.bridge.deleteForeignFlows(scope).catch((err) => log.warn({ err, group: id }, 'learned affinities not removed'));
      }
    },
  });
  // One run at a time, reading the inventory when it starts: two Services added back to back must
  // not race, or the older plan can land last and leave the newer node port out of the host chain.
  const nodePortRunner = new CoalescingRunner(() => nodePorts.sync(planServices(withNodePorts(o.inventory.snapshot()), o.nodeName)));
  const syncNodePorts = () => nodePortRunner.run().catch((err) => log.error({ err }, 'NodePort host rules not applied'));
  void syncNodePorts();
  o.inventory.on('change', (c) => {
    if (c.kind !== 'Service' && c.kind !== 'EndpointSlice') return;
    o.sync().catch((err) => log.error({ err }, 'datapath sync after a Service change failed'));
    if (c.kind === 'Service') void syncNodePorts();
  });
  return feature;
}
