// WireGuard pieces without a device: keys (checked against `wg pubkey` when installed), the UAPI
// text both ways, peers from Node annotations, routes into the device, MTU, config defaults; the
// wireguard-go start/stop by PID against stand-in processes; egress-over-WireGuard names.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, loadOrCreateKeyPair, privateKeyFile, publicKeyOf } from '../../../src/agent/wireguard/keys.js';
import { parseUapiGet, uapiSetText } from '../../../src/agent/wireguard/uapi.js';
import { peersFrom } from '../../../src/agent/peers.js';
import { desiredPeerRoutes } from '../../../src/agent/route/node-routes.js';
import { podMtu } from '../../../src/agent/node-network.js';
import { nodeView } from '../../../src/agent/inventory/convert.js';
import { AgentConfigSchema } from '../../../src/api/config.js';
import { WIREGUARD_KEY_ANNOTATION, WireGuardKeySchema } from '../../../src/api/wireguard.js';
import type { Inventory } from '../../../src/api/inventory.js';
import { runningUserspace, startUserspace, stopUserspace, userspaceLogFile, userspaceRecordFile } from '../../../src/agent/wireguard/userspace.js';
import { WG_EGRESS_DEV, wgEgressMac, wgEgressTable } from '../../../src/agent/egress/wireguard-path.js';
import { natRestoreInput } from '../../../src/agent/egress/snat-rules.js';
import { processStart } from '../../../src/lib/process.js';
import { existsSync } from 'node:fs';

const hasWg = (() => {
  try {
    execFileSync('wg', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe('wireguard keys', () => {
  it('makes Curve25519 pairs in wg\'s format whose public half is what wg pubkey computes', () => {
    const k = generateKeyPair();
    assert.equal(WireGuardKeySchema.safeParse(k.privateKey).success, true);
    assert.equal(WireGuardKeySchema.safeParse(k.publicKey).success, true);
    assert.equal(publicKeyOf(k.privateKey), k.publicKey);
    if (hasWg) assert.equal(execFileSync('wg', ['pubkey'], { input: k.privateKey + '\n' }).toString().trim(), k.publicKey);
    assert.notEqual(generateKeyPair().privateKey, k.privateKey);
  });

  it('stores the private key 0600 at first start and returns the same pair afterwards', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wgkeys-'));
    try {
      const first = await loadOrCreateKeyPair(dir);
      assert.equal(first.created, true);
      assert.equal((await stat(privateKeyFile(dir))).mode & 0o777, 0o600);
      const again = await loadOrCreateKeyPair(dir);
      assert.deepEqual([again.created, again.privateKey, again.publicKey], [false, first.privateKey, first.publicKey]);
      assert.equal((await readFile(privateKeyFile(dir), 'utf8')).trim(), first.privateKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a damaged key file, naming it, instead of silently making a new identity', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wgkeys-'));
    try {
      await loadOrCreateKeyPair(dir);
      await writeFile(privateKeyFile(dir), 'not-a-key\n');
      await assert.rejects(loadOrCreateKeyPair(dir), new RegExp(`${privateKeyFile(dir)}: expected a WireGuard key`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('wireguard UAPI text', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const hex = (k: string) => Buffer.from(k, 'base64').toString('hex');

  it('writes a set with keys in hex, allowed IPs replaced, and removals', () => {
    const text = uapiSetText({ privateKey: a.privateKey, listenPort: 51820, peers: [{ publicKey: b.publicKey, endpoint: '172.31.250.12:51820', allowedIPs: ['10.42.1.0/24'], keepalive: 25 }, { publicKey: a.publicKey, remove: true }] });
    assert.equal(text, `set=1\nprivate_key=${hex(a.privateKey)}\nlisten_port=51820\npublic_key=${hex(b.publicKey)}\nendpoint=172.31.250.12:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.42.1.0/24\npublic_key=${hex(a.publicKey)}\nremove=true\n\n`);
  });

  it('reads a get answer back into keys, port and peers', () => {
    const answer = `private_key=${hex(a.privateKey)}\nlisten_port=51820\npublic_key=${hex(b.publicKey)}\nendpoint=172.31.250.12:51820\nlast_handshake_time_sec=0\npersistent_keepalive_interval=25\nallowed_ip=10.42.1.0/24\nallowed_ip=10.42.9.0/24\nerrno=0\n\n`;
    assert.deepEqual(parseUapiGet(answer), { privateKey: a.privateKey, listenPort: 51820, peers: [{ publicKey: b.publicKey, endpoint: '172.31.250.12:51820', allowedIPs: ['10.42.1.0/24', '10.42.9.0/24'], keepalive: 25 }] });
  });
});

describe('wireguard peers, routes, MTU, config', () => {
  const key = generateKeyPair().publicKey;
  const inv = { nodes: new Map([
    ['box1', { name: 'box1', podCIDR: '10.42.0.0/24', podCIDRs: ['10.42.0.0/24'], internalIP: '172.31.250.11', labels: {} }],
    ['box2', { name: 'box2', podCIDR: '10.42.1.0/24', podCIDRs: ['10.42.1.0/24'], internalIP: '172.31.250.12', labels: {}, wireGuardPublicKey: key }],
    ['box3', { name: 'box3', podCIDR: '10.42.2.0/24', podCIDRs: ['10.42.2.0/24'], internalIP: '172.31.250.13', labels: {} }],
  ]) } as unknown as Inventory;

  it('takes only peers with a published key, never tunnelled (a keyless peer is not sent to in the clear)', () => {
    assert.deepEqual(peersFrom(inv, 'box1', 'encap', undefined, true), [{ name: 'box2', podCIDR: '10.42.1.0/24', underlayIP: '172.31.250.12', encap: false, wireGuard: true, publicKey: key }]);
    assert.deepEqual(peersFrom(inv, 'box1', 'encap').map((p) => [p.name, p.encap]), [['box2', true], ['box3', true]]);
  });

  it('routes a WireGuard peer\'s pod CIDR onlink into the device', () => {
    const [peer] = peersFrom(inv, 'box1', 'encap', undefined, true);
    assert.deepEqual(desiredPeerRoutes([peer!], 'antrea-gw0', 'br-phy', 'antrea-wg0'), [{ dst: '10.42.1.0/24', via: '10.42.1.1', dev: 'antrea-wg0', onlink: true }]);
  });

  it('reads the key from the Node annotation, and ignores a malformed one', () => {
    const node = (v: string) => nodeView({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'box2', annotations: { [WIREGUARD_KEY_ANNOTATION]: v } } } as never);
    assert.equal(node(key).wireGuardPublicKey, key);
    assert.equal(node('x').wireGuardPublicKey, undefined);
  });

  it('deducts 60 bytes (IPv4 underlay) or 80 (IPv6) instead of the tunnel overhead', () => {
    const cfg = AgentConfigSchema.parse({ trafficEncryptionMode: 'wireGuard' });
    assert.equal(podMtu(cfg), 1440);
    assert.equal(podMtu(cfg, 1500, true), 1420);
    assert.equal(podMtu(AgentConfigSchema.parse({})), 1450);
  });

  it('defaults: encryption off, port 51820, device antrea-wg0; bad values are named by path', () => {
    const cfg = AgentConfigSchema.parse({});
    assert.deepEqual([cfg.trafficEncryptionMode, cfg.wireGuard.port, cfg.wireGuard.interfaceName], ['none', 51820, 'antrea-wg0']);
    const bad = AgentConfigSchema.safeParse({ trafficEncryptionMode: 'ipsec', wireGuard: { port: 70000, interfaceName: 'a/b' } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['trafficEncryptionMode', 'wireGuard.interfaceName', 'wireGuard.port']);
  });
});

describe('wireguard key on the Node (Kubernetes inventory)', () => {
  it('merge-patches the annotation onto the agent\'s own Node', async () => {
    const { createServer } = await import('node:http');
    const { KubeClient } = await import('../../../src/agent/inventory/kube-client.js');
    const seen: { method?: string; url?: string; type?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
        res.setHeader('content-type', 'application/json').end('{"kind":"Node"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = new KubeClient({ server: new URL(`http://127.0.0.1:${port}`), insecureSkipTLSVerify: false, origin: 'test' });
    try {
      const key = generateKeyPair().publicKey;
      await client.mergePatch('/api/v1/nodes/box1', { metadata: { annotations: { [WIREGUARD_KEY_ANNOTATION]: key } } }, new AbortController().signal);
      assert.deepEqual(seen, [{ method: 'PATCH', url: '/api/v1/nodes/box1', type: 'application/merge-patch+json', body: JSON.stringify({ metadata: { annotations: { [WIREGUARD_KEY_ANNOTATION]: key } } }) }]);
    } finally {
      client.close();
      server.close();
    }
  });
});

describe('wireguard identity in the reported state', () => {
  it('takes the key and port, and names a bad key by its path', async () => {
    const { NodeReportedSchema } = await import('../../../src/api/node-state.js');
    const base = { node: 'box1', observedGeneration: 0, objects: {}, inventory: { pods: [] }, agentVersion: '1', uptimeSeconds: 1 };
    const key = generateKeyPair().publicKey;
    assert.deepEqual(NodeReportedSchema.parse({ ...base, wireGuard: { publicKey: key, port: 51820 } }).wireGuard, { publicKey: key, port: 51820 });
    const bad = NodeReportedSchema.safeParse({ ...base, wireGuard: { publicKey: 'nope', port: 51820 } });
    assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')), ['wireGuard.publicKey']);
  });
});

describe('wireguard-go the agent starts (userspace.ts), on real processes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgus-'));
  });
  afterEach(async () => {
    await stopUserspace(dir); // whatever a failed assertion left running, by its recorded PID
    await rm(dir, { recursive: true, force: true });
  });

  /** A stand-in for wireguard-go: runs in the foreground, says it is up by creating `<dir>/<dev>`. */
  const fake = async (body: string) => {
    const file = path.join(dir, 'fake-wg.sh');
    await writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  it('records {pid, start} of what it started, adopts nothing else, and stops it by that PID', async () => {
    const cmd = await fake(`echo "starting $2"; touch "${dir}/$2"; exec sleep 60`);
    const ref = await startUserspace(dir, cmd, 'wgtest0', () => existsSync(path.join(dir, 'wgtest0')));
    const rec = runningUserspace(dir);
    assert.deepEqual(rec, { ...ref, device: 'wgtest0', command: cmd });
    assert.equal((await stat(userspaceRecordFile(dir))).mode & 0o777, 0o600);
    assert.match(await readFile(userspaceLogFile(dir), 'utf8'), /starting wgtest0/);
    // A record whose start time is not the running process's (a reused PID) is not ours.
    await writeFile(userspaceRecordFile(dir), JSON.stringify({ ...rec, start: rec!.start + 1 }));
    assert.equal(runningUserspace(dir), undefined);
    assert.equal(await stopUserspace(dir), false, 'a reused PID is never signalled');
    assert.equal(processStart(ref.pid), ref.start, 'still running');
    await writeFile(userspaceRecordFile(dir), JSON.stringify(rec));
    assert.equal(await stopUserspace(dir), true);
    assert.equal(processStart(ref.pid), undefined, 'stopped');
    assert.equal(existsSync(userspaceRecordFile(dir)), false);
  });

  it('a second start replaces one that runs without its device', async () => {
    const cmd = await fake(`touch "${dir}/$2"; exec sleep 60`);
    const first = await startUserspace(dir, cmd, 'wgtest0', () => existsSync(path.join(dir, 'wgtest0')));
    await rm(path.join(dir, 'wgtest0'));
    const second = await startUserspace(dir, cmd, 'wgtest0', () => existsSync(path.join(dir, 'wgtest0')));
    assert.notEqual(second.pid, first.pid);
    assert.equal(processStart(first.pid), undefined, 'the first one was stopped');
    assert.equal(runningUserspace(dir)?.pid, second.pid);
  });

  it('fails with the log line of one that exits during start-up, and names a command that is not installed', async () => {
    const cmd = await fake('echo "ERROR: (wgtest0) Failed to create TUN device: no such file"; exit 1');
    await assert.rejects(startUserspace(dir, cmd, 'wgtest0', () => false), /exited during start-up: ERROR: \(wgtest0\) Failed to create TUN device/);
    await assert.rejects(startUserspace(dir, path.join(dir, 'no-such-wireguard-go'), 'wgtest0', () => false), /ENOENT/);
  });
});

describe('egress over WireGuard: derived names and the NAT exception', () => {
  it('MACs and table ids follow from the gateway IP (the same on every box and after a restart)', () => {
    assert.equal(wgEgressMac('10.42.1.1'), '0a:5e:0a:2a:01:01');
    assert.equal(wgEgressTable('10.42.1.1'), 0x0a2a0101);
    assert.notEqual(wgEgressTable('10.42.2.1'), wgEgressTable('10.42.1.1'));
  });

  it('packets wrapped for the egress box leave unmasqueraded: the RETURN comes before the MASQUERADE', () => {
    const text = natRestoreInput({ podCIDR: '10.42.0.0/24', clusterCIDRs: ['10.42.0.0/24'], snat: [], passDevs: [WG_EGRESS_DEV] });
    const lines = text.split('\n');
    const ret = lines.indexOf(`-A SEINE-POSTROUTING -o ${WG_EGRESS_DEV} -j RETURN`);
    assert.ok(ret > 0, text);
    assert.ok(ret < lines.findIndex((l) => l.includes('MASQUERADE')));
    assert.doesNotMatch(natRestoreInput({ podCIDR: '10.42.0.0/24', clusterCIDRs: [], snat: [] }), /-o /);
  });
});
