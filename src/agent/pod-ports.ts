// Pod ports on the integration bridge, and the agent's pod inventory derived from them.
// Like Antrea's interface store, the truth lives in OVSDB: each pod port carries
// container-id, pod-namespace, pod-name, ip-address and attached-mac in its external_ids,
// so a restarted agent knows its pods (and their flows) without any other state.
import type { LocalPod } from './connectivity/flows.js';
import type { PodPort, PodPortConnector, PodRef } from './cni/pod-network.js';
import type { VSwitch } from './ovs/vswitch.js';

export interface PodPortInfo extends LocalPod {
  portName: string;
  containerId: string;
}

export class OvsPodPorts implements PodPortConnector {
  /** While a datapath sync builds its flows: one OVSDB listing shared by every list() (see shared()). */
  private held?: Promise<PodPortInfo[]>;
  private holds = 0;

  constructor(
    private readonly vs: VSwitch,
    private readonly bridge: string,
    /** Called after every change; resolves when the pod's flows are installed. */
    private readonly onChange: () => Promise<void>,
  ) {}

  /**
   * Runs fn with one OVSDB listing for every list() made meanwhile: a datapath sync's features
   * each ask for the pods (connectivity, policy, Services), which cost three OVSDB round trips
   * per sync. A port this object adds or removes meanwhile drops the shared listing.
   */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    this.holds++;
    try {
      return await fn();
    } finally {
      if (--this.holds === 0) this.held = undefined;
    }
  }

  async connect(hostIfname: string, pod: PodPort): Promise<{ ofport: number }> {
    this.held = undefined;
    await this.vs.ensurePort(this.bridge, hostIfname, {
      externalIds: {
        'container-id': pod.containerId,
        'pod-namespace': pod.namespace,
        'pod-name': pod.name,
        'ip-address': pod.ip,
        'attached-mac': pod.mac,
      },
    });
    const ofport = await this.vs.waitOfport(hostIfname);
    this.held = undefined;
    // ADD returns only once the pod can talk: its flows are in.
    await this.onChange();
    return { ofport };
  }

  async disconnect(hostIfname: string, _pod: PodRef): Promise<void> {
    this.held = undefined;
    const deleted = await this.vs.deletePort(this.bridge, hostIfname);
    this.held = undefined;
    if (deleted) await this.onChange();
  }

  list(): Promise<PodPortInfo[]> {
    if (this.holds > 0) return (this.held ??= this.query());
    return this.query();
  }

  private async query(): Promise<PodPortInfo[]> {
    const ports = await this.vs.listPorts(this.bridge);
    const pods: PodPortInfo[] = [];
    for (const p of ports) {
      const x = p.externalIds;
      if (!x['container-id'] || !x['ip-address'] || !x['attached-mac']) continue;
      if (p.ofport === undefined || p.ofport < 0) continue; // not (yet) usable: no flows for it
      pods.push({
        portName: p.name,
        containerId: x['container-id'],
        key: `${x['pod-namespace']}/${x['pod-name']}`,
        ofport: p.ofport,
        ip: x['ip-address'],
        mac: x['attached-mac'],
      });
    }
    return pods.sort((a, b) => a.ofport - b.ofport);
  }
}
