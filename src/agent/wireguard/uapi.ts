// Configuring a WireGuard device. A userspace device (wireguard-go) answers the cross-platform
// UAPI on /var/run/wireguard/<dev>.sock: text key=value lines, keys in hex. The agent speaks it
// directly, so steady state spawns nothing. A kernel device has no socket; its configuration
// goes through `wg` (which speaks generic netlink) until Seine has a genl client of its own.
import { createConnection } from 'node:net';
import { existsSync } from 'node:fs';
import { run } from '../../lib/exec.js';

export const UAPI_DIR = '/var/run/wireguard';
export const uapiSocket = (dev: string) => `${UAPI_DIR}/${dev}.sock`;

export interface WgPeer {
  publicKey: string;
  /** ip:port */
  endpoint?: string;
  allowedIPs: string[];
  /** Seconds between keepalives when idle (0 or absent: off). */
  keepalive?: number;
}

export interface WgDevice {
  privateKey?: string;
  listenPort?: number;
  peers: WgPeer[];
}

/** What to change: every field optional; a peer with `remove` goes. */
export interface WgSet {
  privateKey?: string;
  listenPort?: number;
  peers?: (WgPeer | { publicKey: string; remove: true })[];
}

export interface WgControl {
  readonly kind: 'uapi' | 'wg';
  get(): Promise<WgDevice>;
  set(change: WgSet): Promise<void>;
}

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');

function uapiRequest(socket: string, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socket);
    let out = '';
    const timer = setTimeout(() => sock.destroy(new Error(`${socket}: no answer in ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      out += d;
      // Every answer ends with errno=N and an empty line.
      if (/(^|\n)errno=-?\d+\n\n$/.test(out)) sock.end();
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      const errno = /(?:^|\n)errno=(-?\d+)\n/.exec(out)?.[1];
      if (errno === undefined) return reject(new Error(`${socket}: answer without errno: ${JSON.stringify(out.slice(0, 200))}`));
      if (errno !== '0') return reject(new Error(`${socket}: the device refused the change (errno=${errno})`));
      resolve(out);
    });
    sock.write(text);
  });
}

/** UAPI `get=1` answer → device. */
export function parseUapiGet(text: string): WgDevice {
  const dev: WgDevice = { peers: [] };
  let peer: WgPeer | undefined;
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const [k, v] = [line.slice(0, i), line.slice(i + 1)];
    if (k === 'private_key') dev.privateKey = b64(v);
    else if (k === 'listen_port') dev.listenPort = Number(v);
    else if (k === 'public_key') dev.peers.push((peer = { publicKey: b64(v), allowedIPs: [] }));
    else if (k === 'endpoint' && peer) peer.endpoint = v;
    else if (k === 'allowed_ip' && peer) peer.allowedIPs.push(v);
    else if (k === 'persistent_keepalive_interval' && peer && v !== '0') peer.keepalive = Number(v);
  }
  return dev;
}

export function uapiSetText(change: WgSet): string {
  const lines = ['set=1'];
  if (change.privateKey) lines.push(`private_key=${hex(change.privateKey)}`);
  if (change.listenPort !== undefined) lines.push(`listen_port=${change.listenPort}`);
  for (const p of change.peers ?? []) {
    lines.push(`public_key=${hex(p.publicKey)}`);
    if ('remove' in p) {
      lines.push('remove=true');
      continue;
    }
    if (p.endpoint) lines.push(`endpoint=${p.endpoint}`);
    if (p.keepalive !== undefined) lines.push(`persistent_keepalive_interval=${p.keepalive}`);
    lines.push('replace_allowed_ips=true', ...p.allowedIPs.map((a) => `allowed_ip=${a}`));
  }
  return lines.join('\n') + '\n\n';
}

class UapiControl implements WgControl {
  readonly kind = 'uapi';
  constructor(private readonly socket: string) {}
  async get(): Promise<WgDevice> {
    return parseUapiGet(await uapiRequest(this.socket, 'get=1\n\n'));
  }
  async set(change: WgSet): Promise<void> {
    await uapiRequest(this.socket, uapiSetText(change));
  }
}

/** A kernel device, through `wg` (generic netlink). The private key goes through stdin, never argv. */
class WgToolControl implements WgControl {
  readonly kind = 'wg';
  constructor(private readonly dev: string) {}
  async get(): Promise<WgDevice> {
    const out = (await run('wg', ['show', this.dev, 'dump'])).stdout.trim().split('\n');
    const [self, ...peers] = out.map((l) => l.split('\t'));
    const none = (v: string | undefined) => (v === undefined || v === '(none)' || v === 'off' ? undefined : v);
    return {
      ...(none(self?.[0]) ? { privateKey: self![0] } : {}),
      ...(self?.[2] ? { listenPort: Number(self[2]) } : {}),
      peers: peers.map((p) => ({ publicKey: p[0]!, ...(none(p[2]) ? { endpoint: p[2] } : {}), allowedIPs: none(p[3])?.split(',') ?? [], ...(none(p[7]) ? { keepalive: Number(p[7]) } : {}) })),
    };
  }
  async set(change: WgSet): Promise<void> {
    const args = ['set', this.dev];
    if (change.privateKey) args.push('private-key', '/dev/stdin');
    if (change.listenPort !== undefined) args.push('listen-port', String(change.listenPort));
    for (const p of change.peers ?? []) {
      args.push('peer', p.publicKey);
      if ('remove' in p) args.push('remove');
      else args.push(...(p.endpoint ? ['endpoint', p.endpoint] : []), ...(p.keepalive !== undefined ? ['persistent-keepalive', String(p.keepalive)] : []), 'allowed-ips', p.allowedIPs.join(','));
    }
    await run('wg', args, change.privateKey ? { input: change.privateKey + '\n' } : {});
  }
}

export function wgControl(dev: string): WgControl {
  return existsSync(uapiSocket(dev)) ? new UapiControl(uapiSocket(dev)) : new WgToolControl(dev);
}
