// The Egress-over-WireGuard path's kernel state (src/agent/egress/wireguard-path.ts) in a fresh
// network namespace: a peer that leaves takes its routing table with it (throw routes
// included), and removeWgEgressPath — what an agent switched to trafficEncryptionMode none runs —
// leaves no device, rule, table route or mangle chain behind. The code runs in the namespace in a
// child Node (it works on the namespace it runs in, as the agent does); the test reads the result
// with `ip` and `iptables` from outside.
import assert from 'node:assert/strict';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import { PREF_POD, WG_EGRESS_DEV, WG_EGRESS_REPLY_TABLE, wgEgressTable } from '../../src/agent/egress/wireguard-path.js';
import { SEINE_ROUTE_PROTO } from '../../src/agent/route/node-routes.js';
import { requirePrereqs } from '../helpers/prereqs.js';

const NS = `seine-wgeg-${process.pid}`;
const src = path.resolve('src');
const own = { podCIDR: '10.42.0.0/24', gatewayIP: '10.42.0.1' };
const peer1 = { podCIDR: '10.42.1.0/24', gatewayIP: '10.42.1.1' };
const peer2 = { podCIDR: '10.42.2.0/24', gatewayIP: '10.42.2.1' };
const POD = '10.42.0.5';

/** Runs `body` (an async function body with the module as `m`) in the namespace; returns what it returns, as JSON. */
async function inNs<T>(body: string): Promise<T> {
  const code = `const m = await import('${src}/agent/egress/wireguard-path.ts');
    const r = await (async () => { ${body} })();
    process.stdout.write(JSON.stringify(r ?? null));`;
  const r = await run('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as T;
}

const sync = (peers: { podCIDR: string; gatewayIP: string }[]) =>
  inNs(`await m.syncWgEgressPath(${JSON.stringify({ gatewayIP: own.gatewayIP, mtu: 1440, peers, clusterCIDRs: [own.podCIDR, '10.96.0.0/16', ...peers.map((p) => p.podCIDR)] })});`);

const table = async (t: number) => (await run('ip', ['-n', NS, '-4', 'route', 'show', 'table', String(t)], { allowFailure: true })).stdout.trim();
const ours = async () => (await run('ip', ['-n', NS, '-4', 'route', 'show', 'table', 'all', 'proto', String(SEINE_ROUTE_PROTO)])).stdout.trim();
const rule = async (pref: number) => (await run('ip', ['-n', NS, 'rule', 'show', 'pref', String(pref)])).stdout.trim();
const mangle = async () => (await run('ip', ['netns', 'exec', NS, 'iptables', '-w', '5', '-t', 'mangle', '-S'])).stdout;
const device = async () => (await run('ip', ['-n', NS, 'link', 'show', WG_EGRESS_DEV], { allowFailure: true })).code === 0;

describe('Egress over WireGuard: kernel state when peers leave and when encryption is turned off', function () {
  this.timeout(120_000);

  before(async () => {
    requirePrereqs('root', 'ip', 'iptables', 'native');
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  });

  after(async () => {
    await run('ip', ['netns', 'del', NS], { allowFailure: true });
  });

  it('two peers: a device, a table per peer (default route and throw routes), the reply rule and chain, a pod rule', async () => {
    await sync([peer1, peer2]);
    assert.equal(await inNs(`return m.syncWgEgressPodRules([{ podIP: '${POD}', gatewayIP: '${peer2.gatewayIP}' }]);`), 1);
    assert.ok(await device());
    for (const p of [peer1, peer2]) {
      const t = await table(wgEgressTable(p.gatewayIP));
      assert.match(t, new RegExp(`^default via ${p.gatewayIP} dev ${WG_EGRESS_DEV}`, 'm'), `${p.gatewayIP}'s table:\n${t}`);
      assert.match(t, /^throw 10\.96\.0\.0\/16/m);
    }
    assert.match(await table(WG_EGRESS_REPLY_TABLE), new RegExp(`^${peer2.podCIDR.replace(/\./g, '\\.')} via ${peer2.gatewayIP}`, 'm'));
    assert.match(await rule(PREF_POD), new RegExp(`from ${POD} lookup ${wgEgressTable(peer2.gatewayIP)}`));
    assert.match(await rule(9000), /fwmark 0x400000\/0x400000 lookup 24094/);
    assert.match(await mangle(), /-A PREROUTING -j SEINE-WG-EGRESS/);
  });

  it('a peer that leaves takes its table with it (throw routes too) and its reply routes; the other peer keeps its own', async () => {
    await sync([peer1]);
    assert.equal(await table(wgEgressTable(peer2.gatewayIP)), '', 'the departed peer\'s table is empty');
    const reply = await table(WG_EGRESS_REPLY_TABLE);
    assert.doesNotMatch(reply, /10\.42\.2\./, reply);
    assert.match(reply, /^10\.42\.1\.0\/24 via 10\.42\.1\.1/m);
    const t1 = await table(wgEgressTable(peer1.gatewayIP));
    assert.match(t1, /^default via 10\.42\.1\.1/m);
    assert.match(t1, /^throw 10\.96\.0\.0\/16/m);
    // A sync with nothing changed changes nothing.
    const before = await ours();
    await sync([peer1]);
    assert.equal(await ours(), before);
  });

  it('removeWgEgressPath (trafficEncryptionMode none) leaves no device, rule, route of ours or mangle chain; a second call finds nothing', async () => {
    assert.equal(await inNs('return m.removeWgEgressPath();'), true);
    assert.equal(await device(), false, `${WG_EGRESS_DEV} is still there`);
    assert.equal(await rule(PREF_POD), '');
    assert.equal(await rule(9000), '');
    assert.equal(await ours(), '', 'routes of ours (proto 250) in some table');
    assert.doesNotMatch(await mangle(), /SEINE-WG-EGRESS/);
    assert.equal(await inNs('return m.removeWgEgressPath();'), false);
    // And it can be set up again from nothing (turned back on).
    await sync([peer1, peer2]);
    assert.match(await table(wgEgressTable(peer2.gatewayIP)), /^default via 10\.42\.2\.1/m);
  });
});
