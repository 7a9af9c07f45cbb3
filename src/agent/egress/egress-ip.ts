// Holding an Egress IP: the address on the box's uplink (the device with the node's internal
// IP: br-phy in the lab) as a /32 with a label that marks it Seine's, so a restarted agent
// knows which addresses to release; a gratuitous ARP when it is added moves the neighbours'
// (the router's) ARP entries to this box at once after a failover. Addresses over rtnetlink.
import { spawn } from 'node:child_process';
import { createLogger } from '../../lib/log.js';
import { AF_INET, withRtnetlink } from '../../lib/netlink/route.js';

const log = createLogger('egress');

/** `<dev>:eg`: addresses with this label are the Egress IPs this agent holds (IFNAMSIZ allows 15 bytes). */
export const egressLabel = (dev: string) => `${dev.slice(0, 12)}:eg`;

export async function heldEgressIPs(dev: string): Promise<string[]> {
  const label = egressLabel(dev);
  return withRtnetlink(undefined, (rt) => rt.addresses({ dev, family: AF_INET }).filter((a) => a.label === label && a.prefixLength === 32).map((a) => a.address));
}

/** Adds and removes labelled /32s until the device holds exactly `wanted`; returns what changed. */
export async function reconcileEgressIPs(dev: string, wanted: ReadonlySet<string>): Promise<{ added: string[]; removed: string[] }> {
  const held = new Set(await heldEgressIPs(dev));
  const added = [...wanted].filter((ip) => !held.has(ip));
  const removed = [...held].filter((ip) => !wanted.has(ip));
  withRtnetlink(undefined, (rt) => {
    for (const ip of removed) {
      try {
        rt.delAddress(dev, `${ip}/32`);
      } catch (err) {
        log.warn({ err, dev, ip }, 'egress IP not removed');
      }
    }
    for (const ip of added) rt.addAddress(dev, `${ip}/32`, { replace: true, label: egressLabel(dev) });
  });
  for (const ip of added) announce(dev, ip);
  if (added.length || removed.length) log.info({ dev, added, removed }, 'egress IPs changed');
  return { added, removed };
}

/** Gratuitous ARP, three times a second apart (arping -U); not awaited: forwarding does not wait on it. */
function announce(dev: string, ip: string): void {
  const child = spawn('arping', ['-U', '-c', '3', '-I', dev, ip], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  child.on('error', (err) => log.warn({ err, ip }, 'gratuitous ARP not sent (apt-get install iputils-arping)'));
  child.unref();
}
