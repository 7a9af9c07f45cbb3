import assert from 'node:assert/strict';
import { CniArgsSchema } from '../../../src/api/cni.js';

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
    assert.deepEqual(parse('K8S_POD_NAME=a=b;').data, { IgnoreUnknown: false, K8S_POD_NAME: 'a=b' });
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
});
