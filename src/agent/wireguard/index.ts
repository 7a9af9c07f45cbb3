// WireGuard between boxes (Antrea's trafficEncryptionMode: wireGuard). Pod traffic to another
// box leaves br-int through the gateway like noEncap traffic; the host routes the peer's pod
// CIDR into the WireGuard device, which encrypts it to the peer's underlay address:port. Each
// peer's allowed IPs are its pod CIDR, so a box only accepts from a peer the pods it owns.
// The device outlives the agent (kernel link, or a wireguard-go the lab or the agent started,
// userspace.ts): a restarted agent adopts it as it is, with its peers, so traffic never stops.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentConfig } from '../../api/config.js';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { withRtnetlink } from '../../lib/netlink/route.js';
import type { PeerBox } from '../connectivity/flows.js';
import { loadOrCreateKeyPair, type KeyPair } from './keys.js';
import { uapiSocket, wgControl, type WgControl, type WgPeer, type WgSet } from './uapi.js';
import { runningUserspace, startUserspace, stopUserspace } from './userspace.js';
import { removeWgEgressPath } from '../egress/wireguard-path.js';

const log = createLogger('wireguard');

/**
 * A keepalive makes the device handshake as soon as a peer is configured, not on the first pod
 * packet (two boxes' first packets crossing start two handshakes, and one side then waits out
 * the 5 s rekey timeout); it also keeps NAT mappings on the way (cellular backhaul) open.
 */
export const KEEPALIVE_SECONDS = 25;

export interface WireGuardPeer extends PeerBox {
  publicKey: string;
}

export const publicKeyFile = (stateDir: string) => path.join(stateDir, 'wireguard', 'public.key');

export class WireGuard {
  private constructor(
    readonly device: string,
    readonly publicKey: string,
    readonly port: number,
    private readonly control: WgControl,
  ) {}

  /** Keys, device (adopted or created), MTU, private key and port. */
  static async start(cfg: Pick<AgentConfig, 'stateDir' | 'wireGuard'>, mtu: number): Promise<WireGuard> {
    const keys = await loadOrCreateKeyPair(cfg.stateDir);
    // Published beside the private key for whoever plays the API server (the lab copies it into the Node's annotation).
    await writeFile(publicKeyFile(cfg.stateDir), keys.publicKey + '\n', { mode: 0o644 });
    const dev = cfg.wireGuard.interfaceName;
    const created = await ensureDevice(dev, cfg.wireGuard.userspaceCommand, cfg.stateDir);
    withRtnetlink(undefined, (rt) => rt.setLink(dev, { mtu, up: true }));
    const control = wgControl(dev);
    const wg = new WireGuard(dev, keys.publicKey, cfg.wireGuard.port, control);
    await wg.configureSelf(keys);
    log.info({ device: dev, created, control: control.kind, publicKey: keys.publicKey, keyCreated: keys.created, port: cfg.wireGuard.port, mtu }, 'wireguard device ready');
    return wg;
  }

  private async configureSelf(keys: KeyPair): Promise<void> {
    const cur = await this.control.get();
    const change: WgSet = {};
    if (cur.privateKey !== keys.privateKey) change.privateKey = keys.privateKey;
    if (cur.listenPort !== this.port) change.listenPort = this.port;
    if (Object.keys(change).length) await this.control.set(change);
  }

  /** Peers as the inventory has them now: add, update, remove only what differs. Returns the number of changes. */
  async sync(peers: WireGuardPeer[]): Promise<number> {
    const cur = await this.control.get();
    const want = new Map<string, WgPeer>(peers.map((p) => [p.publicKey, { publicKey: p.publicKey, endpoint: `${p.underlayIP}:${this.port}`, allowedIPs: [p.podCIDR], keepalive: KEEPALIVE_SECONDS }]));
    const changes: NonNullable<WgSet['peers']> = [];
    for (const c of cur.peers) if (!want.has(c.publicKey)) changes.push({ publicKey: c.publicKey, remove: true });
    for (const w of want.values()) {
      const c = cur.peers.find((x) => x.publicKey === w.publicKey);
      if (!c || c.endpoint !== w.endpoint || c.keepalive !== w.keepalive || [...c.allowedIPs].sort().join() !== [...w.allowedIPs].sort().join()) changes.push(w);
    }
    if (changes.length) {
      await this.control.set({ peers: changes });
      log.info({ peers: changes.map((p) => ('remove' in p ? { remove: p.publicKey } : { publicKey: p.publicKey, endpoint: p.endpoint })) }, 'wireguard peers changed');
    }
    return changes.length;
  }

  /** The device's current peers (the agent API and tests read it). */
  async peers(): Promise<WgPeer[]> {
    return (await this.control.get()).peers;
  }
}

/**
 * Adopts the device if it exists (a previous agent's, or the lab's wireguard-go). Else the kernel
 * link type; else the userspace implementation, which this agent starts and records by PID.
 */
async function ensureDevice(dev: string, userspaceCommand: string, stateDir: string): Promise<'adopted' | 'kernel' | 'userspace'> {
  const exists = () => withRtnetlink(undefined, (rt) => rt.link(dev)) !== undefined;
  if (exists()) {
    const ours = runningUserspace(stateDir);
    if (ours) log.info({ device: dev, wireguardGoPid: ours.pid }, `adopting the ${ours.command} an earlier agent started`);
    return 'adopted';
  }
  // Setup only: rtnetlink in src/lib/netlink creates veths, not links of other kinds.
  const kernel = await run('ip', ['link', 'add', dev, 'type', 'wireguard'], { allowFailure: true });
  if (kernel.code === 0) return 'kernel';
  log.info({ device: dev, reason: kernel.stderr.trim() }, `no kernel WireGuard: starting ${userspaceCommand}`);
  // The UAPI socket too: wgControl() picks the userspace protocol by its presence.
  await startUserspace(stateDir, userspaceCommand, dev, () => exists() && existsSync(uapiSocket(dev)));
  return 'userspace';
}

/**
 * trafficEncryptionMode none on a box that ran WireGuard before (its state dir has the key
 * directory): the wireguard-go an earlier agent started goes (by its recorded PID), so does a
 * kernel device of the configured name, and the Egress path's device, tables, rules and mangle
 * chain (wireguard-path.ts). The key stays: turned on again, the box keeps its identity. A
 * userspace device someone else runs (the lab's wireguard-go) is not the agent's to remove.
 * Returns what was removed, for the log.
 */
export async function removeWireGuard(cfg: Pick<AgentConfig, 'stateDir' | 'wireGuard'>): Promise<string[]> {
  if (!existsSync(path.dirname(publicKeyFile(cfg.stateDir)))) return [];
  const removed: string[] = [];
  if (await stopUserspace(cfg.stateDir)) removed.push(`the ${cfg.wireGuard.userspaceCommand} this agent started`);
  const dev = cfg.wireGuard.interfaceName;
  if (withRtnetlink(undefined, (rt) => rt.link(dev))?.kind === 'wireguard') {
    withRtnetlink(undefined, (rt) => rt.delLink(dev));
    removed.push(`kernel device ${dev}`);
  }
  if (await removeWgEgressPath()) removed.push('the Egress path (device, tables, rules, mangle chain)');
  return removed;
}
