// The hand-written protobuf codec behind the lab's CRI client: wire bytes worked out from the
// protobuf encoding rules for CRI v1 messages (api.proto field numbers), decoding of what
// containerd sends (unknown fields, int64 timestamps, maps, repeated messages), and errors.
import assert from 'node:assert/strict';
import { decode, encode, ProtobufError, type MessageType } from '../../../src/lib/cri/protobuf.js';
import { CRI_METHODS } from '../../../src/lib/cri/messages.js';
import { sandboxConfig, KUBELET_POD_NAME } from '../../../src/lab/pod-runtime-cri.js';

const hex = (b: Buffer) => b.toString('hex');

describe('CRI protobuf codec', () => {
  const encodings: { what: string; type: MessageType; msg: Record<string, unknown>; bytes: string }[] = [
    { what: 'VersionRequest{version: "v1"}: field 1, wire type 2', type: CRI_METHODS.Version.request, msg: { version: 'v1' }, bytes: '0a027631' },
    { what: 'StopPodSandboxRequest{pod_sandbox_id: "ab"}', type: CRI_METHODS.StopPodSandbox.request, msg: { podSandboxId: 'ab' }, bytes: '0a026162' },
    { what: 'PodSandboxStatusRequest verbose=true: field 2 varint', type: CRI_METHODS.PodSandboxStatus.request, msg: { podSandboxId: 'x', verbose: true }, bytes: '0a01781001' },
    { what: 'absent fields are not written', type: CRI_METHODS.PodSandboxStatus.request, msg: {}, bytes: '' },
    {
      what: 'PodSandboxMetadata inside PodSandboxConfig inside RunPodSandboxRequest, attempt 300 as a two-byte varint',
      type: CRI_METHODS.RunPodSandbox.request,
      msg: { config: { metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 300 } } },
      // 0a len (config) 0a len (metadata) 0a01 70 | 12 01 75 | 1a 01 6e | 20 ac02
      bytes: '0a0e0a0c0a01701201751a016e20ac02',
    },
    {
      what: 'map<string,string> labels (field 6) as one entry message {1: key, 2: value} per pair',
      type: CRI_METHODS.RunPodSandbox.request,
      msg: { config: { labels: { a: 'b' } } },
      bytes: '0a083206' + '0a0161120162',
    },
    {
      what: 'ListPodSandboxRequest with a label selector (filter 1 → label_selector 3)',
      type: CRI_METHODS.ListPodSandbox.request,
      msg: { filter: { labelSelector: { k: 'v' } } },
      bytes: '0a081a06' + '0a016b120176',
    },
    { what: 'UTF-8 strings are length-prefixed in bytes, not characters', type: CRI_METHODS.Version.request, msg: { version: 'é' }, bytes: '0a02c3a9' },
  ];
  for (const t of encodings) {
    it(`encodes ${t.what}`, () => {
      assert.equal(hex(encode(t.type, t.msg as never)), t.bytes);
    });
  }

  it('round-trips a RunPodSandbox request as kubelet fills it', () => {
    const req = { config: sandboxConfig({ namespace: 'shop', name: 'web', labels: { app: 'web' } }, 'uid-1', 2), runtimeHandler: 'runc' };
    const back = decode(CRI_METHODS.RunPodSandbox.request, encode(CRI_METHODS.RunPodSandbox.request, req as never)) as typeof req & Record<string, unknown>;
    assert.deepEqual(back.config.metadata, { name: 'web', namespace: 'shop', uid: 'uid-1', attempt: 2 });
    assert.equal(back.config.labels?.[KUBELET_POD_NAME], 'web');
    assert.equal(back.config.labels?.app, 'web');
    assert.equal(back.runtimeHandler, 'runc');
  });

  it('decodes a ListPodSandbox response: repeated items, int64 nanosecond timestamps beyond 2^53, enums', () => {
    const created = 1_765_000_000_123_456_789n;
    const items = [
      { id: 'a', state: 0, createdAt: created, labels: { x: 'y' }, metadata: { name: 'p', namespace: 'n', uid: 'u', attempt: 0 } },
      { id: 'b', state: 1, createdAt: -5n },
    ];
    const res = decode(CRI_METHODS.ListPodSandbox.response, encode(CRI_METHODS.ListPodSandbox.response, { items } as never));
    const got = res.items as { id: string; state: number; createdAt: bigint; labels: Record<string, string> }[];
    assert.deepEqual(got.map((i) => [i.id, i.state, i.createdAt]), [['a', 0, created], ['b', 1, -5n]]);
    assert.deepEqual(got[0].labels, { x: 'y' });
    assert.deepEqual(got[1].labels, {}, 'absent map decodes empty');
  });

  it('a negative int64 is ten varint bytes (two\'s complement), as protobuf specifies', () => {
    const t: MessageType = [{ name: 'v', no: 1, type: 'int64' }];
    assert.equal(hex(encode(t, { v: -1n })), '08ffffffffffffffffff01');
    assert.equal(decode(t, Buffer.from('08ffffffffffffffffff01', 'hex')).v, -1n);
  });

  it('skips fields it does not know, of every wire type, and keeps the ones it does', () => {
    // unknown 7 varint, unknown 8 fixed64, unknown 9 bytes, unknown 10 fixed32, then id "z"
    const buf = Buffer.from('3896' + '01' + '41' + '0102030405060708' + '4a03616263' + '55' + '01020304' + '0a017a', 'hex');
    assert.equal(decode(CRI_METHODS.RunPodSandbox.response, buf).podSandboxId, 'z');
  });

  it('fills proto3 defaults for absent fields', () => {
    assert.deepEqual(decode(CRI_METHODS.Version.response, Buffer.alloc(0)), { version: '', runtimeName: '', runtimeVersion: '', runtimeApiVersion: '' });
  });

  const bad: { what: string; bytes: string; error: RegExp }[] = [
    { what: 'a truncated varint', bytes: '0a', error: /truncated varint/ },
    { what: 'a length past the end', bytes: '0a0561', error: /truncated field/ },
    { what: 'a string field sent as a varint', bytes: '0801', error: /field podSandboxId \(1\): wire type 0, expected 2/ },
    { what: 'a varint longer than 10 bytes', bytes: '08ffffffffffffffffffff01', error: /longer than 10 bytes/ },
    { what: 'a group (wire type 3)', bytes: '1b', error: /unsupported wire type 3/ },
  ];
  for (const t of bad) {
    it(`rejects ${t.what}`, () => {
      const type = t.what.includes('10 bytes') ? ([{ name: 'v', no: 1, type: 'int64' }] as MessageType) : CRI_METHODS.RunPodSandbox.response;
      assert.throws(() => decode(type, Buffer.from(t.bytes, 'hex')), (e: Error) => e instanceof ProtobufError && t.error.test(e.message));
    });
  }
});
