// Bad calls through the real seine-cni binary against a real agent CNI server: each must exit
// 1 and print the spec's error JSON with the right code and a message naming the problem.
import assert from 'node:assert/strict';
import path from 'node:path';
import { requirePrereqs } from '../helpers/prereqs.js';
import { addNetns, containerId, delAllNetns, netConf, podArgs, requireBuiltBinary, runCni, startCniLab, type CniCallSpec, type CniLab } from './cni-fixtures.js';

interface BadCall {
  name: string;
  spec?: CniCallSpec;
  config?: Record<string, unknown> | string;
  env?: Record<string, string | undefined>;
  code: number;
  msg: RegExp;
  details?: RegExp;
}

describe('seine-cni error matrix (real binary, real agent)', function () {
  this.timeout(60_000);
  let lab: CniLab;
  let smallLab: CniLab;
  let netns: string;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'native');
    requireBuiltBinary();
    lab = await startCniLab();
    // A /29 holds 5 pod addresses: fill it to test exhaustion.
    smallLab = await startCniLab({ podCidr: '10.244.9.0/29' });
    for (let i = 0; i < smallLab.ipam.pool.size; i++) await smallLab.ipam.allocate({ containerId: `filler${i}`, ifname: 'eth0', namespace: 'default', name: `filler-${i}` });
    netns = (await addNetns('errors')).path;
  });

  after(async () => {
    await lab?.stop();
    await smallLab?.stop();
    await delAllNetns();
  });

  const conf = (extra: Record<string, unknown> = {}) => netConf(lab.socketPath, extra);
  const add = (extra: CniCallSpec = {}): CniCallSpec => ({ command: 'ADD', containerId: containerId(), netns, ifname: 'eth0', args: podArgs('default', 'web-1', 'x'), ...extra });
  const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:07:02', sandbox: '/var/run/netns/x' }], ips: [{ address: '10.244.7.2/24', interface: 0 }] };

  const cases: BadCall[] = [
    { name: 'missing CNI_COMMAND', env: { CNI_COMMAND: undefined }, code: 4, msg: /CNI_COMMAND is not set/ },
    { name: 'unknown command', spec: { command: 'FROB' }, code: 4, msg: /CNI_COMMAND="FROB" is not one of ADD, DEL, CHECK, VERSION/ },
    { name: 'missing CNI_CONTAINERID', env: { CNI_CONTAINERID: undefined }, code: 4, msg: /CNI_CONTAINERID/ },
    { name: 'missing CNI_NETNS on ADD', env: { CNI_NETNS: undefined }, code: 4, msg: /CNI_NETNS/ },
    { name: 'missing CNI_IFNAME', env: { CNI_IFNAME: undefined }, code: 4, msg: /CNI_IFNAME/ },
    { name: 'missing CNI_PATH', env: { CNI_PATH: undefined }, code: 4, msg: /CNI_PATH/ },
    { name: 'CNI_IFNAME longer than 15 characters', spec: { ifname: 'a-very-long-ifname0' }, code: 4, msg: /CNI_IFNAME: must be at most 15 characters/ },
    { name: 'CNI_CONTAINERID with bad characters', spec: { containerId: '-bad/id' }, code: 4, msg: /CNI_CONTAINERID: must start with a letter or digit/ },
    { name: 'bad CNI_ARGS pair', spec: { args: 'K8S_POD_NAMESPACE;K8S_POD_NAME=web' }, code: 4, msg: /CNI_ARGS: invalid pair "K8S_POD_NAMESPACE"/ },
    { name: 'unknown CNI_ARGS key without IgnoreUnknown', spec: { args: 'K8S_POD_NAME=web;FOO=1' }, code: 4, msg: /CNI_ARGS: unknown key\(s\) FOO/ },
    { name: 'K8S_POD_NAME that is not a pod name', spec: { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web 1;K8S_POD_INFRA_CONTAINER_ID=x' }, code: 4, msg: /CNI_ARGS: K8S_POD_NAME="web 1" is not a pod name/ },
    { name: 'K8S_POD_NAMESPACE with a path', spec: { args: 'K8S_POD_NAMESPACE=../etc;K8S_POD_NAME=web-1' }, code: 4, msg: /CNI_ARGS: K8S_POD_NAMESPACE="\.\.\/etc" is not a namespace name/ },
    { name: 'K8S_POD_INFRA_CONTAINER_ID with a path', spec: { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=../x' }, code: 4, msg: /CNI_ARGS: K8S_POD_INFRA_CONTAINER_ID=.* is not a container id/ },
    { name: 'CNI_NETNS climbing with ".."', spec: { netns: '/var/run/netns/../../proc/1/ns/net' }, code: 4, msg: /CNI_NETNS: must not contain "\.\." segments/ },
    { name: 'bad JSON on stdin', config: '{"cniVersion": "1.0.0", "name": ', code: 6, msg: /failed to decode the network configuration on stdin as JSON/ },
    { name: 'stdin is a JSON array', config: '[1,2]', code: 6, msg: /expected a JSON object/ },
    { name: 'unsupported cniVersion', config: { cniVersion: '0.2.0' }, code: 1, msg: /unsupported CNI version "0\.2\.0"; supported versions: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0/ },
    { name: 'missing cniVersion', config: { cniVersion: undefined }, code: 7, msg: /cniVersion is required/ },
    { name: 'CHECK with 0.3.1', spec: { command: 'CHECK' }, config: { cniVersion: '0.3.1', prevResult }, code: 1, msg: /CHECK is not supported with cniVersion 0\.3\.1/ },
    { name: 'CHECK without prevResult', spec: { command: 'CHECK' }, code: 7, msg: /CHECK needs prevResult/ },
    { name: 'CHECK with a malformed prevResult', spec: { command: 'CHECK' }, config: { prevResult: { ips: [{ address: 'nonsense' }] } }, code: 6, msg: /prevResult\.ips\.0\.address/ },
    { name: 'wrong type', config: { type: 'bridge' }, code: 2, msg: /does not support type="bridge"/ },
    { name: 'unsupported field ipam', config: { ipam: { type: 'host-local' } }, code: 2, msg: /does not support ipam=\{"type":"host-local"\}/ },
    { name: 'invalid mtu', config: { mtu: 10 }, code: 7, msg: /invalid network configuration: mtu/ },
    { name: 'missing network name', config: { name: undefined }, code: 7, msg: /invalid network configuration: name/ },
    { name: 'netns path that does not exist', spec: { netns: '/var/run/netns/seinecni-no-such-ns' }, code: 3, msg: /CNI_NETNS \/var\/run\/netns\/seinecni-no-such-ns does not exist/ },
    { name: 'unknown container on CHECK', spec: { command: 'CHECK' }, config: { prevResult }, code: 3, msg: /container [0-9a-f]{64} has no interface eth0/ },
  ];

  for (const c of cases) {
    it(`${c.name} → code ${c.code}`, async () => {
      const config = typeof c.config === 'string' ? c.config : conf(c.config);
      const out = await runCni(add(c.spec), config, c.env);
      assertCniError(out, c.code, c.msg, c.details);
    });
  }

  it('agent socket missing → code 11 with the socket path in details', async () => {
    const socket = path.join(lab.dir, 'nowhere', 'cni.sock');
    const out = await runCni(add(), netConf(socket));
    assertCniError(out, 11, /the Seine agent is not reachable \(ENOENT\); try again later/, new RegExp(socket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
  });

  it('pool exhausted → code 101 naming the pod CIDR', async () => {
    const out = await runCni(add(), netConf(smallLab.socketPath));
    assertCniError(out, 101, /pod CIDR 10\.244\.9\.0\/29 is exhausted: all 5 pod addresses are allocated/);
    assert.equal((await smallLab.ipam.list()).length, 5, 'no allocation added by the failed ADD');
  });

  it('an error keeps the cniVersion of the request', async () => {
    const out = await runCni(add({ command: 'CHECK' }), conf({ cniVersion: '0.4.0' }));
    assertCniError(out, 7, /CHECK needs prevResult/);
    assert.equal(out.json!.cniVersion, '0.4.0');
  });

  it('VERSION is answered by the binary even with the agent down', async () => {
    const out = await runCni({ command: 'VERSION' }, netConf('/nonexistent/cni.sock'));
    assert.equal(out.exitCode, 0, out.stdout + out.stderr);
    assert.deepEqual(out.json, { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  });
});

function assertCniError(out: { exitCode: number; json?: Record<string, any>; stdout: string; stderr: string }, code: number, msg: RegExp, details?: RegExp): void {
  assert.equal(out.exitCode, 1, `exit code (stdout: ${out.stdout} stderr: ${out.stderr})`);
  assert.ok(out.json, `error JSON on stdout (stderr: ${out.stderr})`);
  assert.equal(out.json.code, code, `code in ${out.stdout}`);
  assert.match(out.json.msg, msg);
  assert.equal(typeof out.json.cniVersion, 'string');
  if (details) assert.match(out.json.details ?? '', details);
}
