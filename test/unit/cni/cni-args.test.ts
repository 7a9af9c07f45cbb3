import assert from 'node:assert/strict';
import { CniArgsSchema, CniEnvSchema } from '../../../src/api/cni.js';

const parse = (s: string) => CniArgsSchema.safeParse(s);

describe('CNI_ARGS parsing', () => {
  it('reads the pod identity containerd passes', () => {
    const r = parse('IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-abcde;K8S_POD_INFRA_CONTAINER_ID=0123abc;K8S_POD_UID=1-2-3');
    assert.ok(r.success);
    assert.deepEqual(r.data, {
      IgnoreUnknown: true,
      K8S_POD_NAMESPACE: 'kube-system',
      K8S_POD_NAME: 'coredns-5d78c9869d-abcde',
      K8S_POD_INFRA_CONTAINER_ID: '0123abc',
      K8S_POD_UID: '1-2-3',
    });
  });

  it('accepts an empty string, a trailing ";" and "=" inside values', () => {
    assert.deepEqual(parse('').data, { IgnoreUnknown: false });
    assert.deepEqual(parse('IgnoreUnknown=1;FOO=a=b;K8S_POD_NAME=web;').data, { IgnoreUnknown: true, K8S_POD_NAME: 'web' });
  });

  it('rejects a pair without "="', () => {
    const r = parse('K8S_POD_NAMESPACE;K8S_POD_NAME=web');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0].message, /invalid pair "K8S_POD_NAMESPACE"/);
  });

  it('rejects an empty key', () => {
    assert.match(parse('=x').error!.issues[0].message, /invalid pair "=x"/);
  });

  it('rejects unknown keys unless IgnoreUnknown is true', () => {
    assert.match(parse('FOO=1;K8S_POD_NAME=a').error!.issues[0].message, /unknown key\(s\) FOO/);
    assert.match(parse('IgnoreUnknown=0;FOO=1').error!.issues[0].message, /unknown key\(s\) FOO/);
    assert.ok(parse('IgnoreUnknown=true;FOO=1').success);
    assert.ok(parse('IgnoreUnknown=True;FOO=1').success);
  });

  it('rejects a non-boolean IgnoreUnknown and empty pod names', () => {
    assert.match(parse('IgnoreUnknown=yes').error!.issues[0].message, /IgnoreUnknown="yes" is not a boolean/);
    assert.match(parse('K8S_POD_NAME=').error!.issues[0].message, /K8S_POD_NAME is empty/);
  });

  // Pod names and ids name interfaces, IPAM files and OVS external_ids on the host.
  const BAD_ARGS: [string, string, RegExp][] = [
    ['K8S_POD_NAME', 'web 1', /K8S_POD_NAME="web 1" is not a pod name/],
    ['K8S_POD_NAME', '../../etc/passwd', /K8S_POD_NAME=.* is not a pod name/],
    ['K8S_POD_NAME', 'web\nx', /K8S_POD_NAME=.* is not a pod name/],
    ['K8S_POD_NAME', 'Web', /is not a pod name/],
    ['K8S_POD_NAMESPACE', 'a.b', /K8S_POD_NAMESPACE="a.b" is not a namespace name/],
    ['K8S_POD_NAMESPACE', 'x'.repeat(64), /is not a namespace name/],
    ['K8S_POD_INFRA_CONTAINER_ID', '../x', /K8S_POD_INFRA_CONTAINER_ID="..\/x" is not a container id/],
    ['K8S_POD_INFRA_CONTAINER_ID', 'a'.repeat(256), /is not a container id/],
    ['K8S_POD_UID', 'u id', /K8S_POD_UID="u id" is not a pod UID/],
  ];
  for (const [key, value, msg] of BAD_ARGS) {
    it(`rejects ${key}=${JSON.stringify(value).slice(0, 24)}, naming the key`, () => {
      const r = parse(`K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;${key}=${value}`);
      assert.equal(r.success, false);
      assert.match(r.error!.issues[0].message, msg);
    });
  }

  it('accepts what Kubernetes allows: dotted pod names, 64-hex sandbox ids, UUIDs', () => {
    const r = parse(`K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=web.v2-0;K8S_POD_INFRA_CONTAINER_ID=${'ab'.repeat(32)};K8S_POD_UID=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d`);
    assert.ok(r.success, JSON.stringify(r.error?.issues));
  });

  it('rejects a CNI_NETNS with "..", control characters or a relative path, and an over-long CNI_CONTAINERID', () => {
    const env = (over: Record<string, string>) => CniEnvSchema.safeParse({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_NETNS: '/var/run/netns/x', ...over });
    assert.ok(env({}).success);
    const problem = (over: Record<string, string>) => {
      const r = env(over);
      assert.equal(r.success, false);
      return `${String(r.error!.issues[0].path[0])}: ${r.error!.issues[0].message}`;
    };
    assert.match(problem({ CNI_NETNS: '/var/run/netns/../../proc/1/ns/net' }), /^CNI_NETNS: must not contain "\.\." segments/);
    assert.match(problem({ CNI_NETNS: '/var/run/netns/x\n' }), /^CNI_NETNS: must not contain control characters/);
    assert.match(problem({ CNI_NETNS: 'netns/x' }), /^CNI_NETNS: must be an absolute path/);
    assert.match(problem({ CNI_CONTAINERID: 'a'.repeat(256) }), /^CNI_CONTAINERID: must be at most 255 characters/);
    assert.match(problem({ CNI_IFNAME: 'eth 0' }), /^CNI_IFNAME: must not contain/);
  });
});
