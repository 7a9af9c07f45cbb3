// Validation of forwarded calls: the spec's error code and a message naming the field.
import assert from 'node:assert/strict';
import { parseCniCall } from '../../../src/agent/cni/request.js';
import { CniCallError } from '../../../src/agent/cni/pod-network.js';
import { ContainerAccess } from '../../../src/agent/cni/container-access.js';

const env = (extra: Record<string, string | undefined> = {}) => {
  const e: Record<string, string | undefined> = {
    CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/var/run/netns/p', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web', ...extra,
  };
  return Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as Record<string, string>;
};
const config = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'seine', type: 'seine', ...extra });

function expectError(request: unknown, code: number, msg: RegExp, version = '1.0.0') {
  const hint = { version: '1.0.0' };
  assert.throws(() => parseCniCall(request, hint), (err: unknown) => {
    assert.ok(err instanceof CniCallError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, msg);
    return true;
  });
  assert.equal(hint.version, version);
}

describe('CNI call validation', () => {
  it('accepts a containerd ADD and fills the defaults', () => {
    const call = parseCniCall({ env: env(), config: config() }, { version: '' });
    assert.equal(call.command, 'ADD');
    assert.deepEqual(call.pod, { namespace: 'default', name: 'web', containerId: 'abc123' });
    assert.equal(call.conf.agentSocket, '/var/run/seine/cni.sock');
    assert.equal(call.netns, '/var/run/netns/p');
  });

  it('treats an empty CNI_NETNS on DEL as absent', () => {
    const call = parseCniCall({ env: env({ CNI_COMMAND: 'DEL', CNI_NETNS: '' }), config: config() }, { version: '' });
    assert.equal(call.netns, undefined);
  });

  it('lists every invalid variable at once', () => {
    expectError({ env: env({ CNI_CONTAINERID: undefined, CNI_IFNAME: 'a/b' }), config: config() }, 4, /CNI_CONTAINERID is not set; CNI_IFNAME: must not contain/);
  });

  it('rejects CNI_NETNS that is not a path', () => {
    expectError({ env: env({ CNI_NETNS: 'p1' }), config: config() }, 4, /CNI_NETNS: must be an absolute path/);
  });

  it('checks the version first and remembers it for the error', () => {
    expectError({ env: env({ CNI_CONTAINERID: undefined }), config: config({ cniVersion: '0.9.0' }) }, 1, /unsupported CNI version "0\.9\.0"/, '1.0.0');
    expectError({ env: env({ CNI_CONTAINERID: undefined }), config: config({ cniVersion: '0.3.1' }) }, 4, /CNI_CONTAINERID/, '0.3.1');
  });

  it('names a bad field of the network config', () => {
    expectError({ env: env(), config: config({ agentSocket: 'relative.sock' }) }, 7, /agentSocket: must be an absolute path/);
  });

  it('refuses a malformed request line', () => {
    expectError({ env: 'nope', config: {} }, 6, /malformed request from seine-cni: request\.env/);
    expectError({ env: env({ CNI_COMMAND: 'VERSION' }), config: config() }, 4, /answered by seine-cni itself/);
  });
});

describe('per-container serialization', () => {
  it('runs calls for one container in order and others in parallel', async () => {
    const access = new ContainerAccess();
    const log: string[] = [];
    const step = (id: string, tag: string, ms: number) =>
      access.run(id, async () => {
        log.push(`${tag}:start`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${tag}:end`);
      });
    await Promise.all([step('a', 'a1', 30), step('a', 'a2', 1), step('b', 'b1', 5)]);
    assert.ok(log.indexOf('a1:end') < log.indexOf('a2:start'), log.join(' '));
    assert.ok(log.indexOf('b1:end') < log.indexOf('a1:end'), 'b ran while a1 was busy');
    assert.equal(access.busy, 0);
  });

  it('a failed call does not block the next one', async () => {
    const access = new ContainerAccess();
    await assert.rejects(access.run('a', async () => Promise.reject(new Error('x'))), /x/);
    assert.equal(await access.run('a', async () => 7), 7);
  });
});
