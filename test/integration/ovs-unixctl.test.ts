// vswitchd's control socket spoken directly (unixctl.ts) against a private OVS: the same text
// ovs-appctl prints (version, dpctl/dump-conntrack with real entries), daemon errors as
// errors, and the socket of a daemon named by its pid file.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UnixctlError, unixctlCall, unixctlSocket } from '../../src/agent/ovs/unixctl.js';
import type { OvsInstance } from '../../src/lab/ovs-instance.js';
import { run } from '../../src/lib/exec.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';

describe('OVS unixctl (JSON-RPC on the control socket)', function () {
  this.timeout(60_000);
  let ovs: OvsInstance;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip');
    ovs = await startPrivateOvs('unixctl');
  });
  after(async () => {
    if (ovs) await stopPrivateOvs(ovs);
  });

  const appctl = async (...args: string[]) => (await run('ovs-appctl', ['-t', ovs.vswitchdCtl, ...args], { env: ovs.env })).stdout;

  it('answers what ovs-appctl prints, byte for byte', async () => {
    assert.equal(await unixctlCall(ovs.vswitchdCtl, 'version'), await appctl('version'));
    assert.match(await unixctlCall(ovs.vswitchdCtl, 'version'), /ovs-vswitchd \(Open vSwitch\)/);
  });

  it('dpctl/dump-conntrack: the same entries as ovs-appctl', async () => {
    // Real userspace conntrack entries: a netdev bridge whose LOCAL port's UDP is committed in zone 65520.
    await run('ovs-vsctl', [`--db=${ovs.dbRemote}`, 'add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev'], { env: ovs.env });
    const ns = (...a: string[]) => run('ip', ['netns', 'exec', ovs.netns!, ...a]);
    await ns('ip', 'addr', 'add', '10.98.0.1/16', 'dev', 'br0');
    await ns('ip', 'link', 'set', 'br0', 'up');
    await ns('ethtool', '-K', 'br0', 'tx', 'off');
    await ns('ip', 'neigh', 'replace', '10.98.1.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'br0');
    await run('ovs-ofctl', ['add-flow', `unix:${path.join(ovs.dir, 'br0.mgmt')}`, 'table=0,priority=10,udp,in_port=LOCAL,actions=ct(commit,zone=65520)'], { env: ovs.env });
    for (let i = 0; i < 3; i++) await ns('python3', '-c', "import socket\nfor p in range(21000, 21020):\n s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('10.98.0.1',p)); s.sendto(b'x',('10.98.1.1',9)); s.close()");
    const direct = await unixctlCall(ovs.vswitchdCtl, 'dpctl/dump-conntrack', ['-m', '-s', 'zone=65520']);
    const viaTool = await appctl('dpctl/dump-conntrack', '-m', '-s', 'zone=65520');
    // Timeouts tick between the two reads: compare without them.
    const norm = (t: string) => t.split('\n').map((l) => l.replace(/,timeout=\d+/, '')).sort().join('\n');
    assert.ok(direct.split('\n').filter((l) => l.startsWith('udp,')).length >= 10, direct);
    assert.equal(norm(direct), norm(viaTool));
  });

  it('a daemon error is an error naming the method; a missing socket names the socket', async () => {
    await assert.rejects(unixctlCall(ovs.vswitchdCtl, 'no/such-command'), (e: Error) => e instanceof UnixctlError && /^no\/such-command: .*not a valid command/.test(e.message));
    await assert.rejects(unixctlCall(path.join(ovs.dir, 'none.ctl'), 'version'), /version: .*none\.ctl: connect ENOENT/);
  });

  it('finds a daemon\'s socket by name from its pid file, as ovs-appctl -t <name> does', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'seine-unixctl-'));
    try {
      await writeFile(path.join(dir, 'ovs-vswitchd.pid'), '4242\n');
      assert.equal(await unixctlSocket('ovs-vswitchd', { OVS_RUNDIR: dir }), path.join(dir, 'ovs-vswitchd.4242.ctl'));
      assert.equal(await unixctlSocket('/run/x.ctl', {}), '/run/x.ctl');
      await assert.rejects(unixctlSocket('ovsdb-server', { OVS_RUNDIR: dir }), /ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
