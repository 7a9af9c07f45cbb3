// Pods through the real seine-cni binary and the agent's CNI server: real namespaces, veths,
// a real userspace OVS bridge (flows at NORMAL: the pipeline is the agent's), real SQLite.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { run } from '../../src/lib/exec.js';
import { hostVethName, podMac } from '../../src/agent/cni/pod-interface.js';
import { PodConfigurator } from '../../src/agent/cni/pod-configurator.js';
import { CniServer } from '../../src/agent/cni/server.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import {
  VsctlPortConnector,
  addNetns,
  containerId,
  delAllNetns,
  delNetns,
  netConf,
  podArgs,
  requireBuiltBinary,
  runCni,
  startCniLab,
  type CniLab,
} from './cni-fixtures.js';

const nsRun = (netns: string, cmd: string, args: string[]) => run('nsenter', [`--net=${netns}`, cmd, ...args]);

describe('seine-cni pods (real binary, netns, OVS, SQLite)', function () {
  this.timeout(60_000);
  let lab: CniLab;
  let seq = 0;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'native');
    requireBuiltBinary();
    lab = await startCniLab({ podCidr: '10.244.7.0/24', mtu: 1450 });
  });

  after(async () => {
    await lab?.stop();
    await delAllNetns();
  });

  /** A fresh pod namespace and the CNI call that names it. */
  async function newPod(name = `web-${++seq}`) {
    const ns = await addNetns(`${name}`);
    const id = containerId();
    const spec = { containerId: id, netns: ns.path, ifname: 'eth0', args: podArgs('default', name, id) };
    return { ...ns, name, id, spec, hostIfname: hostVethName(name, id, 'eth0') };
  }

  it('ADD gives the pod its address, MAC, default route, MTU and offload off, on an OVS port', async () => {
    const pod = await newPod();
    const out = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    assert.equal(out.exitCode, 0, out.stdout + out.stderr);
    const r = out.json!;
    const ip = r.ips[0].address.split('/')[0] as string;
    assert.equal(r.cniVersion, '1.0.0');
    assert.match(r.ips[0].address, /^10\.244\.7\.\d+\/24$/);
    assert.notEqual(ip, '10.244.7.0');
    assert.notEqual(ip, '10.244.7.1');
    assert.deepEqual(r.ips[0], { address: `${ip}/24`, gateway: '10.244.7.1', interface: 1 });
    assert.equal(r.interfaces[0].name, pod.hostIfname);
    assert.match(r.interfaces[0].mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(r.interfaces[0].sandbox, undefined);
    assert.deepEqual(r.interfaces[1], { name: 'eth0', mac: podMac(ip), sandbox: pod.path });
    assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.244.7.1' }]);

    const [link] = JSON.parse((await nsRun(pod.path, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0'])).stdout);
    assert.equal(link.address, podMac(ip));
    assert.equal(link.mtu, 1450);
    assert.ok(link.flags.includes('UP'));
    assert.deepEqual(link.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`), [`${ip}/24`]);
    const routes = JSON.parse((await nsRun(pod.path, 'ip', ['-j', 'route', 'show', 'default'])).stdout);
    assert.equal(routes[0].gateway, '10.244.7.1');
    assert.equal(routes[0].dev, 'eth0');
    assert.match((await nsRun(pod.path, 'ethtool', ['-k', 'eth0'])).stdout, /tx-checksumming: off/);
    assert.match((await lab.inBox('ethtool', ['-k', pod.hostIfname])).stdout, /tx-checksumming: off/);
    assert.equal(JSON.parse((await lab.inBox('ip', ['-j', 'link', 'show', 'dev', pod.hostIfname])).stdout)[0].mtu, 1450);

    assert.ok((await lab.connector.portNames()).includes(pod.hostIfname));
    const ids = await run('ovs-vsctl', [`--db=${lab.ovs.dbRemote}`, 'get', 'interface', pod.hostIfname, 'external_ids'], { env: lab.ovs.env });
    assert.match(ids.stdout, new RegExp(`container-id="?${pod.id}`));
    assert.match(ids.stdout, new RegExp(`ip-address="?${ip.replace(/\./g, '\\.')}`));
  });

  it('two pods on the bridge ping each other', async () => {
    const a = await newPod();
    const b = await newPod();
    const ra = await runCni({ command: 'ADD', ...a.spec }, netConf(lab.socketPath));
    const rb = await runCni({ command: 'ADD', ...b.spec }, netConf(lab.socketPath));
    assert.equal(ra.exitCode, 0, ra.stdout);
    assert.equal(rb.exitCode, 0, rb.stdout);
    const ipA = ra.json!.ips[0].address.split('/')[0];
    const ping = await nsRun(b.path, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ipA]);
    assert.match(ping.stdout, /2 received/);
  });

  it('a repeated ADD returns the same result and takes no second address', async () => {
    const pod = await newPod();
    const first = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    const again = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    assert.equal(again.exitCode, 0, again.stdout);
    assert.deepEqual(again.json, first.json);
    const mine = (await lab.ipam.list()).filter((a) => a.containerId === pod.id);
    assert.equal(mine.length, 1);
  });

  it('a 0.4.0 config gets the 0.4.0 result shape, and CHECK passes with it', async () => {
    const pod = await newPod();
    const conf = netConf(lab.socketPath, { cniVersion: '0.4.0' });
    const out = await runCni({ command: 'ADD', ...pod.spec }, conf);
    assert.equal(out.exitCode, 0, out.stdout);
    assert.equal(out.json!.cniVersion, '0.4.0');
    assert.equal(out.json!.ips[0].version, '4');
    const check = await runCni({ command: 'CHECK', ...pod.spec }, { ...conf, prevResult: out.json });
    assert.equal(check.exitCode, 0, check.stdout);
    assert.equal(check.stdout, '');
  });

  it('CHECK passes after ADD and fails with code 103 when the pod lost its address', async () => {
    const pod = await newPod();
    const add = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    const conf = netConf(lab.socketPath, { prevResult: add.json });
    const ok = await runCni({ command: 'CHECK', ...pod.spec }, conf);
    assert.equal(ok.exitCode, 0, ok.stdout);
    const address = add.json!.ips[0].address;
    await nsRun(pod.path, 'ip', ['addr', 'del', address, 'dev', 'eth0']);
    const bad = await runCni({ command: 'CHECK', ...pod.spec }, conf);
    assert.equal(bad.exitCode, 1);
    assert.equal(bad.json!.code, 103);
    assert.match(bad.json!.msg, new RegExp(`interface eth0 lacks address ${address.replace(/\./g, '\\.')}`));
  });

  it('DEL removes veth, OVS port and address, and is idempotent', async () => {
    const pod = await newPod();
    const add = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    assert.equal(add.exitCode, 0, add.stdout);
    for (let i = 0; i < 2; i++) {
      const del = await runCni({ command: 'DEL', ...pod.spec }, netConf(lab.socketPath, { prevResult: add.json }));
      assert.equal(del.exitCode, 0, del.stdout);
      assert.equal(del.stdout, '');
    }
    assert.equal(await lab.hostLinkExists(pod.hostIfname), false, 'host veth gone');
    assert.equal((await lab.connector.portNames()).includes(pod.hostIfname), false, 'OVS port gone');
    assert.equal(await lab.ipam.lookup(pod.id, 'eth0'), undefined, 'address released');
    const links = await nsRun(pod.path, 'ip', ['-o', 'link']);
    assert.doesNotMatch(links.stdout, /eth0/);
  });

  it('DEL succeeds after the netns is gone, and without CNI_NETNS', async () => {
    const pod = await newPod();
    assert.equal((await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath))).exitCode, 0);
    await delNetns(pod.path.split('/').pop()!);
    const gone = await runCni({ command: 'DEL', ...pod.spec }, netConf(lab.socketPath));
    assert.equal(gone.exitCode, 0, gone.stdout);
    assert.equal((await lab.connector.portNames()).includes(pod.hostIfname), false);
    assert.equal(await lab.ipam.lookup(pod.id, 'eth0'), undefined);
    const noNetns = await runCni({ command: 'DEL', ...pod.spec, netns: undefined }, netConf(lab.socketPath));
    assert.equal(noNetns.exitCode, 0, noNetns.stdout);
    const unknown = await runCni({ command: 'DEL', ...pod.spec, containerId: containerId(), netns: undefined }, netConf(lab.socketPath));
    assert.equal(unknown.exitCode, 0, unknown.stdout);
  });

  it('parallel ADDs for different pods get distinct addresses', async () => {
    const pods = await Promise.all([1, 2, 3, 4, 5].map((i) => newPod(`par-${i}`)));
    const outs = await Promise.all(pods.map((p) => runCni({ command: 'ADD', ...p.spec }, netConf(lab.socketPath))));
    for (const o of outs) assert.equal(o.exitCode, 0, o.stdout);
    const ips = new Set(outs.map((o) => o.json!.ips[0].address));
    assert.equal(ips.size, 5);
  });

  it('an ADD that fails at the OVS port leaves no veth, port or address behind', async () => {
    // A real connector aimed at a bridge that does not exist: ovs-vsctl add-port fails for real.
    const broken = new CniServer({
      socketPath: `${lab.dir}/broken.sock`,
      podNetwork: new PodConfigurator({ ipam: lab.ipam, connector: new VsctlPortConnector(lab.ovs, 'br-missing'), defaultMtu: 1450, userspaceDatapath: true, hostNetns: lab.box.path }),
    });
    await broken.start();
    try {
      const pod = await newPod();
      const out = await runCni({ command: 'ADD', ...pod.spec }, netConf(`${lab.dir}/broken.sock`));
      assert.equal(out.exitCode, 1);
      assert.equal(out.json!.code, 102);
      assert.match(out.json!.msg, /failed to configure the pod interface eth0 of pod default\/web-\d+: .*br-missing/);
      assert.equal(await lab.hostLinkExists(pod.hostIfname), false, 'host veth rolled back');
      assert.equal(await lab.ipam.lookup(pod.id, 'eth0'), undefined, 'address rolled back');
      assert.doesNotMatch((await nsRun(pod.path, 'ip', ['-o', 'link'])).stdout, /eth0/);
    } finally {
      await broken.stop();
    }
  });

  it('ADD replaces a host veth left behind by an ADD that died midway', async () => {
    const pod = await newPod();
    await lab.inBox('ip', ['link', 'add', pod.hostIfname, 'type', 'veth', 'peer', 'name', 'leftover0']);
    const out = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    assert.equal(out.exitCode, 0, out.stdout);
    assert.equal(await lab.hostLinkExists('leftover0'), false, 'the old pair is gone');
    assert.ok((await nsRun(pod.path, 'ip', ['-o', 'link'])).stdout.includes('eth0'));
  });

  it('allocations survive an agent restart; reconcile releases those without an OVS port', async () => {
    const pod = await newPod();
    const first = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    // A leak: an address whose pod never got (or lost) its port, e.g. the agent died mid-ADD.
    const leaked = await lab.ipam.allocate({ containerId: 'leaked0', ifname: 'eth0', namespace: 'default', name: 'ghost' });
    await lab.restartAgent();
    const again = await runCni({ command: 'ADD', ...pod.spec }, netConf(lab.socketPath));
    assert.deepEqual(again.json!.ips, first.json!.ips, 'same address after restart');

    const released = await lab.ipam.reconcile(await lab.connector.liveContainerIds());
    assert.deepEqual(released.map((a) => [a.containerId, a.ip]), [['leaked0', leaked.ip]]);
    assert.equal(await lab.ipam.lookup('leaked0', 'eth0'), undefined);
    assert.ok(await lab.ipam.lookup(pod.id, 'eth0'), 'the live pod keeps its address');
  });

  it('the socket is mode 0600, and a stale socket file is replaced at start', async () => {
    assert.equal((await stat(lab.socketPath)).mode & 0o777, 0o600);
    const stale = `${lab.dir}/stale.sock`;
    // A socket left behind by a killed process: bound, nobody listening.
    await run(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { allowFailure: true });
    assert.ok((await stat(stale)).isSocket());
    const server = new CniServer({ socketPath: stale, podNetwork: new PodConfigurator({ ipam: lab.ipam, connector: lab.connector, defaultMtu: 1450, userspaceDatapath: true, hostNetns: lab.box.path }) });
    await server.start();
    try {
      const out = await runCni({ command: 'DEL', containerId: containerId() }, netConf(stale));
      assert.equal(out.exitCode, 0, out.stdout);
      await assert.rejects(new CniServer({ socketPath: stale, podNetwork: server as never }).start(), /another process is serving CNI/);
    } finally {
      await server.stop();
    }
  });
});
