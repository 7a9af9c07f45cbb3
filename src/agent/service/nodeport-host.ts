// The host side of NodePort Services (Antrea's design, docs/antrea-proxy.md): traffic for a
// node port arrives on the box's own address (the underlay: eth0 on a box, br-phy in the lab),
// so it meets the host stack before OVS. One iptables nat chain DNATs it to the NodePort
// virtual IP 169.254.0.252 (port unchanged), which is routed into br-int through the gateway
// with a permanent neighbor entry; OVS recognises the virtual IP (reg4 bit 19) and balances on
// the node port. Replies leave OVS through the gateway and the kernel's conntrack undoes the
// DNAT. The same on the kernel and the userspace datapath: only the host stack is involved.
// The route and neighbour go over rtnetlink; the chain through iptables-restore.
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { withRtnetlink } from '../../lib/netlink/route.js';
import { GLOBAL_VIRTUAL_MAC } from '../connectivity/registers.js';
import type { ServicePortPlan } from './plan.js';
import { NODE_PORT_VIRTUAL_IP } from './registers.js';

const log = createLogger('service/nodeport');
export const NODE_PORT_CHAIN = 'SEINE-NODE-PORT';

/** iptables-restore input that makes the chain hold exactly these node ports (other chains untouched). */
export function nodePortRules(plans: readonly ServicePortPlan[]): string {
  const ports = [...new Set(plans.filter((p) => p.nodePort).map((p) => `${p.protocol.toLowerCase()} ${p.nodePort}`))].sort();
  return [
    '*nat',
    `:${NODE_PORT_CHAIN} - [0:0]`,
    `-F ${NODE_PORT_CHAIN}`,
    ...ports.map((pp) => {
      const [proto, port] = pp.split(' ');
      return `-A ${NODE_PORT_CHAIN} -p ${proto} -m ${proto} --dport ${port} -j DNAT --to-destination ${NODE_PORT_VIRTUAL_IP}`;
    }),
    'COMMIT',
    '',
  ].join('\n');
}

export class NodePortHost {
  private last = '';
  private prepared = false;

  constructor(private readonly gatewayDev: string) {}

  async sync(plans: readonly ServicePortPlan[]): Promise<void> {
    const rules = nodePortRules(plans);
    if (rules === this.last) return;
    if (!plans.some((p) => p.nodePort) && !this.prepared) return; // nothing to do until the first NodePort
    if (!this.prepared) await this.prepare();
    await run('iptables-restore', ['--noflush', '-w', '5'], { input: rules });
    this.last = rules;
    log.info({ nodePorts: plans.filter((p) => p.nodePort).map((p) => `${p.nodePort}/${p.protocol}`) }, 'node ports set');
  }

  /** The virtual IP's route and neighbor, and the jump from PREROUTING for local destinations. */
  private async prepare(): Promise<void> {
    withRtnetlink(undefined, (rt) => {
      rt.replaceRoute({ dst: `${NODE_PORT_VIRTUAL_IP}/32`, dev: this.gatewayDev });
      rt.replaceNeighbour(this.gatewayDev, NODE_PORT_VIRTUAL_IP, GLOBAL_VIRTUAL_MAC);
    });
    await run('iptables-restore', ['--noflush', '-w', '5'], { input: `*nat\n:${NODE_PORT_CHAIN} - [0:0]\nCOMMIT\n` });
    const jump = ['PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', NODE_PORT_CHAIN];
    const present = await run('iptables', ['-w', '5', '-t', 'nat', '-C', ...jump], { allowFailure: true });
    if (present.code !== 0) await run('iptables', ['-w', '5', '-t', 'nat', '-I', ...jump]);
    this.prepared = true;
  }
}
