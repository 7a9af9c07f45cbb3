// The image build's step for Seine's own addon, alone: cross-compile src/native for arm64 with
// Debian's aarch64-linux-gnu-gcc against this machine's Node headers, and check the result is
// an aarch64 ELF shared object (the image build then loads it under qemu in the target root).
// And a release staged from this checkout (after npm run build) carries the host's addon where
// dist/ looks for it, only when it is for this machine's architecture.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crossCompileNative, fileHead } from '../../images/native.js';
import { elfInfo, TARGET_RUNTIME } from '../../images/runtime.js';
import { run } from '../../src/lib/exec.js';
import { NATIVE_IN_RELEASE } from '../../src/lib/netlink/native.js';
import { buildRelease } from '../../src/release/bundle.js';
import { hostReleaseArch } from '../../src/api/release.js';

describe('seine_native cross-compile (images/native.ts)', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    try {
      execFileSync('sh', ['-c', 'command -v aarch64-linux-gnu-gcc'], { stdio: 'ignore' });
    } catch {
      throw new Error('needs the arm64 cross compiler: bash images/install-prereqs.sh arm64 (apt-get install gcc-aarch64-linux-gnu)');
    }
    assert.ok(existsSync('/usr/include/node/node_api.h'), 'needs Node headers in /usr/include/node (the nodejs package)');
    dir = await mkdtemp(path.join(tmpdir(), 'sl-native-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds an aarch64 shared object where a release carries it', async () => {
    const outFile = path.join(dir, 'release', NATIVE_IN_RELEASE);
    await crossCompileNative({ arch: 'arm64', workDir: dir, outFile, exec: (cmd, args, opts) => run(cmd, args, { cwd: opts?.cwd, env: { ...process.env, ...opts?.env } }) });
    const elf = elfInfo(await fileHead(outFile));
    assert.deepEqual(elf, { machine: TARGET_RUNTIME.arm64.elfMachine, bits: 64 });
    // Stripped, exports the N-API entry point, and the scratch build tree is gone.
    const symbols = (await run('aarch64-linux-gnu-nm', ['-D', '--defined-only', outFile])).stdout;
    assert.match(symbols, /napi_register_module_v1/);
    assert.equal(existsSync(path.join(dir, 'native-arm64')), false);
  });

  it('puts the host addon into a release bundle staged from the checkout, for the host architecture only', async () => {
    const host = hostReleaseArch();
    assert.ok(host, `no release architecture for ${process.arch}`);
    const other = host === 'arm64' ? 'amd64' : 'arm64';
    const list = async (arch: typeof host) => {
      const built = await buildRelease({ version: '0.9.0', arch, outDir: path.join(dir, `out-${arch}`) });
      return (await run('tar', ['-tzf', built.bundle])).stdout.split('\n').map((f) => f.replace(/^\.\//, ''));
    };
    assert.ok((await list(host)).includes(NATIVE_IN_RELEASE), `the ${host} bundle has ${NATIVE_IN_RELEASE}`);
    assert.ok(!(await list(other)).includes(NATIVE_IN_RELEASE), `the ${other} bundle carries no ${process.arch} addon`);
  });
});
