// The userspace datapath's tunnel neighbour cache, kept filled. On netdev, OVS builds a tunnel
// packet's outer Ethernet header from its own neighbour cache (tnl/neigh), not the kernel's;
// on a miss it sends an ARP and drops the packet that needed it, so the first packet to a new
// peer box was lost (and again after ovs-vswitchd restarts or an idle entry ages out after
// 15 min). The agent resolves each tunnel peer's next hop through the kernel (which queues
// rather than drops) and writes the MAC into OVS's cache with tnl/neigh/set before pods need
// it, then keeps it there. The kernel datapath resolves through the kernel: nothing to do there.
import { createSocket } from 'node:dgram';
import { createLogger } from '../lib/log.js';
import { AF_INET, NUD, withRtnetlink } from '../lib/netlink/route.js';
import { sleep } from '../lib/process.js';
import { unixctlCall, unixctlSocket, vswitchdTarget } from './ovs/unixctl.js';

const log = createLogger('tunnel-neighbours');

export interface TunnelNeighboursOptions {
  /** OVS run directory (ovs-vswitchd's pid file and control socket). */
  ovsRunDir: string;
  /** Underlay addresses of the peers reached through the tunnel, as the inventory knows them now. */
  tunnelPeers: () => string[];
  /** How often every entry is re-resolved and re-written (also renews OVS's 15 min ageing). */
  refreshMs?: number;
  /** How often unresolved peers are tried again. */
  pollMs?: number;
  /** How often OVS's table is compared with what was written (a restarted ovs-vswitchd starts empty). */
  checkMs?: number;
}

/** Where OVS sends a packet for `ip`: the bridge whose port holds the route and the next hop. */
export interface OvsRoute {
  bridge: string;
  nextHop: string;
}

/** Parses `ovs/route/lookup` ("src …\ngateway …\ndev …"); a gateway of :: or 0.0.0.0 means on-link. */
export function parseRouteLookup(ip: string, text: string): OvsRoute | undefined {
  const field = (name: string) => new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1];
  const dev = field('dev');
  if (!dev) return undefined;
  const gw = field('gateway')?.replace(/^::ffff:/, '');
  const nextHop = !gw || gw === '::' || gw === '0.0.0.0' ? ip : gw;
  return { bridge: dev, nextHop };
}

/** Parses `tnl/neigh/show` ("IP  MAC  Bridge" rows) into "bridge ip" → MAC. */
export function parseNeighShow(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(\S+)/i.exec(line.trim());
    if (m) out.set(`${m[3]} ${m[1]}`, m[2]!.toLowerCase());
  }
  return out;
}

/** Kernel neighbour states whose link-layer address is usable. */
const USABLE = NUD.REACHABLE | NUD.STALE | NUD.DELAY | NUD.PROBE | NUD.PERMANENT | NUD.NOARP;

export class TunnelNeighbours {
  /** Peer underlay IP → the entry written for it; absent while unresolved. */
  private readonly written = new Map<string, OvsRoute & { mac: string }>();
  /** Peer → the last problem logged for it ('' → of the refresh itself): logged once, not every poll. */
  private readonly problems = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private lastFull = 0;
  private readonly refreshMs: number;
  private readonly pollMs: number;
  private readonly checkMs: number;

  constructor(private readonly o: TunnelNeighboursOptions) {
    this.refreshMs = o.refreshMs ?? 15_000;
    this.pollMs = o.pollMs ?? 200;
    this.checkMs = o.checkMs ?? 1_000;
  }

  /** First fill; resolves when every peer is resolved or after `waitMs` (unresolved ones keep being tried). */
  async start(waitMs = 3_000): Promise<void> {
    const t0 = Date.now();
    await this.tick();
    while (this.unresolved().length && Date.now() - t0 < waitMs) {
      await sleep(this.pollMs);
      await this.tick();
    }
    const missing = this.unresolved();
    if (missing.length) log.warn({ peers: missing, ms: Date.now() - t0 }, 'tunnel peers not resolved yet; still trying');
    else log.info({ peers: this.written.size, ms: Date.now() - t0 }, 'tunnel neighbours written');
    this.schedule();
  }

  /** Peers changed (inventory): look now rather than at the next poll. */
  poke(): void {
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Peers without an entry written. */
  unresolved(): string[] {
    return this.o.tunnelPeers().filter((ip) => !this.written.has(ip));
  }

  /** Logs a problem of `peer` ('' for the whole refresh) when it is new, not on every poll. */
  private once(peer: string, problem: string): void {
    if (this.problems.get(peer) === problem) return;
    this.problems.set(peer, problem);
    log.warn(peer ? { peer } : {}, problem);
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = this.unresolved().length ? this.pollMs : this.checkMs;
    this.timer = setTimeout(() => void this.tick().finally(() => this.schedule()), ms);
    this.timer.unref();
  }

  /** One look; runs never overlap (a poke during a run waits for it, then looks again). */
  private tick(): Promise<void> {
    const next = (this.running ?? Promise.resolve())
      .then(() => this.look())
      .then(() => void this.problems.delete(''), (err: Error) => this.once('', `tunnel neighbour refresh failed: ${err.message}`));
    this.running = next;
    return next;
  }

  private async look(): Promise<void> {
    if (this.stopped) return;
    const peers = this.o.tunnelPeers();
    for (const ip of [...this.written.keys()]) if (!peers.includes(ip)) this.written.delete(ip);
    if (!peers.length) return;
    const socket = await unixctlSocket(vswitchdTarget(this.o.ovsRunDir), { ...process.env, OVS_RUNDIR: this.o.ovsRunDir });
    // An entry OVS no longer holds (ovs-vswitchd restarted, tnl/neigh/flush, aged out) is
    // written again now, not at the next full refresh.
    const inOvs = parseNeighShow(await unixctlCall(socket, 'tnl/neigh/show'));
    for (const [ip, e] of [...this.written]) if (inOvs.get(`${e.bridge} ${e.nextHop}`) !== e.mac) this.written.delete(ip);
    const full = Date.now() - this.lastFull >= this.refreshMs;
    if (full) this.lastFull = Date.now();
    const todo = full ? peers : peers.filter((ip) => !this.written.has(ip));
    if (!todo.length) return;
    const routes = new Map<string, OvsRoute>();
    for (const ip of todo) {
      const r = parseRouteLookup(ip, await unixctlCall(socket, 'ovs/route/lookup', [ip]).catch(() => ''));
      if (r) routes.set(ip, r);
      else this.once(ip, 'OVS has no route to the tunnel peer');
    }
    // Ask the kernel to (re)validate every next hop: a datagram to the discard port makes it
    // ARP when the entry is missing, failed or stale; its reply fills the kernel's table.
    await probe([...new Set([...routes.values()].map((r) => r.nextHop))]);
    let macs = await kernelNeighbours();
    const known = (r: OvsRoute) => macs.has(`${r.bridge} ${r.nextHop}`);
    for (let i = 0; i < 5 && ![...routes.values()].every(known); i++) {
      await sleep(40);
      macs = await kernelNeighbours();
    }
    for (const [ip, r] of routes) {
      const mac = macs.get(`${r.bridge} ${r.nextHop}`);
      if (!mac) {
        this.written.delete(ip);
        this.once(ip, 'tunnel peer\'s next hop does not answer ARP yet');
        continue;
      }
      const entry = { ...r, mac };
      try {
        // Rewriting an unchanged entry renews its age; a changed MAC replaces it.
        await unixctlCall(socket, 'tnl/neigh/set', [r.bridge, r.nextHop, mac]);
      } catch (err) {
        this.once(ip, `tnl/neigh/set ${r.bridge} failed: ${(err as Error).message}`);
        this.written.delete(ip);
        continue;
      }
      const was = this.written.get(ip);
      if (was?.mac !== mac || was.nextHop !== r.nextHop || was.bridge !== r.bridge) log.info({ peer: ip, bridge: r.bridge, nextHop: r.nextHop, mac }, 'tunnel neighbour set');
      this.written.set(ip, entry);
      this.problems.delete(ip);
    }
  }
}

/** One UDP datagram to port 9 (discard) of each address, from the host's stack. */
async function probe(ips: string[]): Promise<void> {
  if (!ips.length) return;
  const sock = createSocket('udp4');
  try {
    await Promise.all(ips.map((ip) => new Promise<void>((resolve) => sock.send(Buffer.alloc(0), 9, ip, () => resolve()))));
  } finally {
    sock.close();
  }
}

/** The kernel's IPv4 neighbours with a usable MAC, by "device address" (the bridge's internal port is the device). */
async function kernelNeighbours(): Promise<Map<string, string>> {
  return withRtnetlink(undefined, (rt) => {
    const out = new Map<string, string>();
    const usable = rt.neighbours({ family: AF_INET }).filter((n) => n.mac && n.state & USABLE);
    const names = usable.length ? new Map(rt.links().map((l) => [l.index, l.name])) : new Map<number, string>();
    for (const n of usable) out.set(`${names.get(n.index)} ${n.ip}`, n.mac!);
    return out;
  });
}
