// Cross-compiling Seine's own addon (src/native: netlink sockets, setns) for a target, the way
// sqlite3 is: node-gyp with the target's gyp arch, Debian's ${triplet}-gcc and this machine's
// Node headers (N-API, so the target's Node version need not match them). A step of its own so
// a test can build one architecture without the rest of the image.
import { copyFile, mkdir, open, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from './packages.js';
import { elfInfo, elfMachineName, TARGET_RUNTIME } from './runtime.js';

const repo = path.resolve(new URL('..', import.meta.url).pathname);

export type Exec = (cmd: string, args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => Promise<unknown>;

/** The first bytes of a file (enough for its ELF header). */
export async function fileHead(file: string, n = 64): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Build src/native for `arch` in `workDir` (the checkout's own build/ is left alone), strip it,
 * check its ELF machine and copy it to `outFile` (in a release: dist/native/seine_native.node).
 */
export async function crossCompileNative(o: { arch: Arch; workDir: string; outFile: string; exec: Exec }): Promise<void> {
  const rt = TARGET_RUNTIME[o.arch];
  const src = path.join(o.workDir, `native-${o.arch}`);
  await rm(src, { recursive: true, force: true });
  await mkdir(src, { recursive: true });
  for (const f of ['binding.gyp', 'netlink.c']) await copyFile(path.join(repo, 'src/native', f), path.join(src, f));
  const nodedir = path.join(o.workDir, `native-${o.arch}-headers`);
  await rm(nodedir, { recursive: true, force: true });
  await mkdir(path.join(nodedir, 'include'), { recursive: true });
  await symlink('/usr/include/node', path.join(nodedir, 'include', 'node'));
  const gyp = path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  await o.exec(process.execPath, [gyp, 'rebuild', `--arch=${rt.gypArch}`, `--nodedir=${nodedir}`, '--jobs=1'], {
    cwd: src,
    env: { CC: `${rt.triplet}-gcc`, CXX: `${rt.triplet}-g++`, LINK: `${rt.triplet}-gcc`, AR: `${rt.triplet}-ar` },
  });
  const built = path.join(src, 'build/Release/seine_native.node');
  await o.exec(`${rt.triplet}-strip`, ['--strip-unneeded', built]);
  const elf = elfInfo(await fileHead(built));
  if (elf?.machine !== rt.elfMachine) throw new Error(`${built} is ${elf ? elfMachineName(elf.machine) : 'not ELF'}, not ${elfMachineName(rt.elfMachine)}: the cross compiler was not used`);
  await mkdir(path.dirname(o.outFile), { recursive: true });
  await copyFile(built, o.outFile);
  await rm(src, { recursive: true, force: true });
  await rm(nodedir, { recursive: true, force: true });
}
