// Loads seine_native (src/native/netlink.c). Where it is depends on how Seine runs:
//   release bundle / image:  <release>/dist/native/seine_native.node (cross-compiled by the image build)
//   checkout, built:         dist/lib/netlink → ../../../src/native/build/Release (npm's install script)
//   checkout, through tsx:   src/lib/netlink  → ../../native/build/Release
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface SeineNative {
  /** → [fd, netlink port id] */
  openSocket(protocol: number, netns: string | undefined, rcvbuf: number): [number, number];
  /** Every reply message for `seq`, concatenated (NLMSG_ALIGNed), through DONE/ERROR. */
  request(fd: number, msg: Buffer, seq: number): Buffer;
  closeSocket(fd: number): void;
  /** Every message waiting on the socket, without blocking (absent from an addon built before it). */
  drain?(fd: number): Buffer;
  writeSysctl(netns: string | undefined, key: string, value: string): void;
  ethtoolTxOff(netns: string | undefined, ifname: string): void;
}

/** Where a release tree (bundle, image) carries the addon, relative to the tree. */
export const NATIVE_IN_RELEASE = 'dist/native/seine_native.node';
/** Where node-gyp (npm's install script) builds it in a checkout. */
export const NATIVE_IN_CHECKOUT = 'src/native/build/Release/seine_native.node';

const here = import.meta.dirname;
export const nativeCandidates = [
  path.join(here, '../../native/seine_native.node'),
  path.join(here, '../../native/build/Release/seine_native.node'),
  path.join(here, '../../../src/native/build/Release/seine_native.node'),
];

let loaded: SeineNative | undefined;

export function loadNative(): SeineNative {
  if (loaded) return loaded;
  const file = nativeCandidates.find((f) => existsSync(f));
  if (!file) {
    throw new Error(`seine_native.node not found (looked in ${nativeCandidates.join(', ')}): build it with npx node-gyp rebuild --directory=src/native`);
  }
  loaded = createRequire(import.meta.url)(file) as SeineNative;
  return loaded;
}
