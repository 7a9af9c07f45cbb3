// `npm run image -- --arch arm64|armhf [--out DIR] [--k3s FILE] [--release-pubkey FILE]
//                  [--cache DIR] [--no-security] [--keep-work] [--no-compress]`
// Stages: prereqs → bootstrap (mmdebstrap, cached) → agent (built for the target) → rootfs
// (Debian + rootfs/ + the agent) → assemble (genimage) → compress → manifest.
// --no-compress (CI's check build) skips the .xz: the checks read the .img, and xz is most of a
// warm build's time; the manifest then says compressed: null.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { extlinuxConf, raspberryPiCmdline } from './boot-config.js';
import { bootstrapPlan, commitTarball, dropPartial, failingSuite, isCached } from './bootstrap.js';
import { BOOT_MOUNTPOINT, defaultLayout, genimageConfig } from './genimage.js';
import { type Arch, ARCHES, DEBIAN_SUITE } from './packages.js';
import { crossCompileNative } from './native.js';
import { elfInfo, elfMachineName, LAUNCHER_PATH, TARGET_RUNTIME } from './runtime.js';
import { type StageContext, StageError, Stages } from './stage.js';
import { NATIVE_IN_RELEASE } from '../src/lib/netlink/native.js';

const repo = path.resolve(new URL('..', import.meta.url).pathname);
const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };

export interface BuildOptions {
  arch: Arch;
  out: string;
  cacheDir: string;
  k3s?: string | undefined;
  releasePubkey?: string | undefined;
  security: boolean;
  keepWork: boolean;
  /** Write the .img.xz users flash; false for a check build (the manifest's compressed fields are null). */
  compress: boolean;
}

export interface Manifest {
  image: string;
  /** The .img.xz, or null when built with --no-compress. */
  compressed: string | null;
  arch: Arch;
  builtAt: string;
  seine: { version: string; commit: string };
  debian: { suite: string; version: string; suites: string[]; securitySuite: boolean };
  kernel: string;
  node: { version: string; source: string; why: string };
  nativeModules: { name: string; file: string; elf: string; builtBy: string }[];
  openvswitch: string;
  k3s: { included: boolean; version?: string; note: string };
  releasePublicKey: { path: string; sha256: string; generated: boolean };
  sizes: { imageBytes: number; compressedBytes: number | null; rootfsUsedBytes: number };
  sha256: { image: string; compressed: string | null };
  timings: { stage: string; seconds: number; note?: string }[];
  packages: { name: string; version: string }[];
}

export async function buildImage(o: BuildOptions): Promise<Manifest> {
  const work = path.join(o.out, `work-${o.arch}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await mkdir(o.cacheDir, { recursive: true });
  const stages = new Stages(work);
  const rt = TARGET_RUNTIME[o.arch];
  const root = path.join(work, 'rootfs');
  const release = `/opt/seine/releases/${pkg.version}`;

  await stages.run('prereqs', async (ctx) => {
    await ctx.exec('bash', [path.join(repo, 'images/install-prereqs.sh'), o.arch]);
  });

  const plan = bootstrapPlan(o.arch, o.cacheDir, { security: o.security, initramfsConfig: path.join(repo, 'rootfs/etc/initramfs-tools') });
  await stages.run('bootstrap', async (ctx) => {
    if (isCached(plan)) {
      ctx.note = `cached ${path.basename(plan.tarball)}`;
      return;
    }
    ctx.progress(`mmdebstrap ${o.arch} ${plan.sources.map((s) => s.suite).join(' ')} (${plan.packages.length} packages + dependencies, then the initrd; ~8 min on 2 cores)`);
    try {
      await ctx.exec('mmdebstrap', plan.argv, {
        cwd: work,
        explain: (log) => {
          const suite = failingSuite(log, plan.sources);
          if (!suite) return undefined;
          const hint = suite.endsWith('-security') ? ' (leave it out with --no-security; the image manifest then says so)' : '';
          return `the package mirror failed for suite ${suite} (${o.arch})${hint}`;
        },
      });
    } catch (err) {
      await dropPartial(plan);
      throw err;
    }
    await commitTarball(plan);
    ctx.note = `${((await stat(plan.tarball)).size / 1e6).toFixed(0)} MB tar, cached`;
  });

  const bundle = path.join(work, 'release');
  const nodeDir = path.join(work, 'node');
  await stages.run('agent', async (ctx) => {
    ctx.progress('tsc → dist/');
    await ctx.exec('npm', ['run', 'build'], { cwd: repo });
    await mkdir(bundle, { recursive: true });
    await cp(path.join(repo, 'dist'), path.join(bundle, 'dist'), { recursive: true, filter: (f) => !f.endsWith('.map') });
    for (const f of ['package.json', 'package-lock.json']) await copyFile(path.join(repo, f), path.join(bundle, f));
    // node_modules depends only on the lock file and the target: cached like the bootstrap.
    const lock = await readFile(path.join(repo, 'package-lock.json'));
    const modulesKey = createHash('sha256').update(lock).update(JSON.stringify({ arch: o.arch, triplet: rt.triplet, headers: process.versions.node })).digest('hex').slice(0, 16);
    const modulesCache = path.join(o.cacheDir, `node_modules-${o.arch}-${modulesKey}.tar`);
    if (existsSync(modulesCache)) {
      ctx.progress(`node_modules from the cache (${path.basename(modulesCache)})`);
      await ctx.exec('tar', ['-xf', modulesCache, '-C', bundle]);
    } else {
      ctx.progress('npm ci --omit=dev (no install scripts: nothing built for this machine)');
      await ctx.exec('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', `--cpu=${rt.gypArch}`, '--os=linux'], { cwd: bundle });
      ctx.progress(`sqlite3 cross-compiled with ${rt.triplet}-g++ against Node ${process.versions.node} headers (N-API)`);
      const nodedir = path.join(work, 'node-headers');
      await mkdir(path.join(nodedir, 'include'), { recursive: true });
      await symlink('/usr/include/node', path.join(nodedir, 'include', 'node'));
      const gyp = path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
      const sqlite = path.join(bundle, 'node_modules/sqlite3');
      await ctx.exec(process.execPath, [gyp, 'rebuild', `--arch=${rt.gypArch}`, `--nodedir=${nodedir}`, '--jobs=2'], {
        cwd: sqlite,
        env: { CC: `${rt.triplet}-gcc`, CXX: `${rt.triplet}-g++`, LINK: `${rt.triplet}-g++`, AR: `${rt.triplet}-ar`, npm_config_build_from_source: 'true' },
      });
      await ctx.exec(`${rt.triplet}-strip`, ['--strip-unneeded', path.join(sqlite, 'build/Release/node_sqlite3.node')]);
      // Only the module itself: object files and sources are not needed on the box.
      for (const d of ['build/Release/obj.target', 'build/Release/.deps', 'deps', 'src']) await rm(path.join(sqlite, d), { recursive: true, force: true });
      await ctx.exec('tar', ['-cf', `${modulesCache}.partial`, '-C', bundle, 'node_modules']);
      await ctx.exec('mv', [`${modulesCache}.partial`, modulesCache]);
    }
    // Seine's own addon (netlink, setns): not in node_modules, so built every time (~5 s).
    ctx.progress(`seine_native cross-compiled with ${rt.triplet}-gcc (N-API)`);
    await crossCompileNative({ arch: o.arch, workDir: work, outFile: path.join(bundle, NATIVE_IN_RELEASE), exec: (cmd, args, opts) => ctx.exec(cmd, args, opts) });
    const nativeFiles = [...(await findFiles(path.join(bundle, 'node_modules'), (f) => f.endsWith('.node'))), path.join(bundle, NATIVE_IN_RELEASE)];
    for (const f of nativeFiles) {
      const elf = elfInfo(await head(f));
      if (elf?.machine !== rt.elfMachine) {
        throw new Error(`${path.relative(bundle, f)} is ${elf ? elfMachineName(elf.machine) : 'not ELF'}, not ${elfMachineName(rt.elfMachine)}: a native module was not built for the target`);
      }
    }
    ctx.progress(`Node ${rt.nodeVersion} for ${o.arch}: npm package ${rt.nodePackage}`);
    const tgz = path.join(o.cacheDir, `${rt.nodePackage}-${rt.nodeVersion}.tgz`);
    if (!existsSync(tgz)) await ctx.exec('npm', ['pack', `${rt.nodePackage}@${rt.nodeVersion}`, '--pack-destination', o.cacheDir, '--silent'], { cwd: work });
    await mkdir(nodeDir, { recursive: true });
    await ctx.exec('tar', ['-xzf', tgz, '-C', nodeDir, '--strip-components=1', 'package/bin/node']);
    const nodeElf = elfInfo(await head(path.join(nodeDir, 'bin/node')));
    if (nodeElf?.machine !== rt.elfMachine) throw new Error(`${rt.nodePackage} bin/node is not ${elfMachineName(rt.elfMachine)}`);
    ctx.note = `${nativeFiles.length} native module(s) for ${elfMachineName(rt.elfMachine)}`;
  });

  let pubkeyGenerated = false;
  await stages.run('rootfs', async (ctx) => {
    await mkdir(root, { recursive: true });
    await ctx.exec('tar', ['-xpf', plan.tarball, '-C', root, '--numeric-owner']);
    ctx.progress('rootfs/ over Debian, the agent release, Node');
    await ctx.exec('cp', ['-a', '--no-preserve=ownership', `${path.join(repo, 'rootfs')}/.`, root]);
    const rel = path.join(root, release);
    await mkdir(path.dirname(rel), { recursive: true });
    // cp -a keeps node_modules/.bin's relative links as they are (fs.cp would make them absolute build paths).
    await ctx.exec('cp', ['-a', '--no-preserve=ownership', bundle, rel]);
    await mkdir(path.join(rel, 'bin'), { recursive: true });
    for (const [name, entry] of [['seine', 'dist/cli/seine.js'], ['seinectl', 'dist/cli/seinectl.js'], ['seine-cni', 'dist/cni/main.js']] as const) {
      // Resolved through the `current` link at start, so a running process keeps its own release.
      const wrapper = `#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")\nexec /usr/local/bin/node "$d/../${entry}" "$@"\n`;
      await writeFile(path.join(rel, 'bin', name), wrapper, { mode: 0o755 });
    }
    await symlink(`releases/${pkg.version}`, path.join(root, 'opt/seine/current'));
    // The launcher systemd starts: beside the releases, never inside one (an update cannot break it).
    await mkdir(path.join(root, path.dirname(LAUNCHER_PATH)), { recursive: true });
    await copyFile(path.join(bundle, 'dist/launcher/launcher.js'), path.join(root, LAUNCHER_PATH));
    const nodeTarget = path.join(root, `opt/seine/node/${rt.nodeVersion}/bin`);
    await mkdir(nodeTarget, { recursive: true });
    await copyFile(path.join(nodeDir, 'bin/node'), path.join(nodeTarget, 'node'));
    await chmod(path.join(nodeTarget, 'node'), 0o755);
    await mkdir(path.join(root, 'usr/local/bin'), { recursive: true });
    await symlink(`/opt/seine/node/${rt.nodeVersion}/bin/node`, path.join(root, 'usr/local/bin/node'));
    for (const cmd of ['seine', 'seinectl']) await symlink(`/opt/seine/current/bin/${cmd}`, path.join(root, 'usr/local/bin', cmd));
    await mkdir(path.join(root, 'var/lib/seine/update'), { recursive: true });
    // The target's Node in the target's root (under qemu-user): its shared libraries are there
    // and the cross-compiled sqlite3 loads and answers, and seine_native loads — what the box does first at boot.
    const probe = `const s=require('${release}/node_modules/sqlite3');new s.Database(':memory:').get('select sqlite_version() v',(e,r)=>{if(e)throw e;const n=require('${release}/${NATIVE_IN_RELEASE}');if(typeof n.openSocket!=='function')throw new Error('seine_native has no openSocket');console.log(process.version,process.arch,'sqlite',r.v,'seine_native ok')})`;
    const runs = (await ctx.exec('chroot', [root, '/usr/local/bin/node', '-e', probe], {
      explain: () => `the target's node does not run in the image's root file system (a shared library missing? see images/packages.ts RUNTIME_PACKAGES)`,
    })).trim();
    ctx.progress(`in the target root: node ${runs}`);

    // The release public key (the private half never enters the image).
    const pubFile = path.join(root, 'etc/seine/release.pub');
    if (o.releasePubkey) {
      await copyFile(o.releasePubkey, pubFile);
    } else {
      const { publicKey } = generateKeyPairSync('ed25519');
      await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }) as string);
      pubkeyGenerated = true;
      ctx.progress('release key: a throwaway ed25519 key (give --release-pubkey FILE for your fleet key)');
    }
    if (o.k3s) {
      await copyFile(o.k3s, path.join(root, 'usr/local/bin/k3s'));
      await chmod(path.join(root, 'usr/local/bin/k3s'), 0o755);
    }

    // Enabled units: symlinks in *.wants, made by systemctl on the tree (nothing runs).
    await ctx.exec('systemctl', ['--root', root, 'enable', 'seine-first-boot.service', 'seine-agent.service', 'k3s.service', 'systemd-networkd.service', 'systemd-timesyncd.service']);
    await ctx.exec('systemctl', ['--root', root, 'set-default', 'multi-user.target']);

    // Per-box identity is made on the box: machine-id on first boot, host name from seine-node.yaml.
    await writeFile(path.join(root, 'etc/machine-id'), '');
    await rm(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
    await writeFile(path.join(root, 'etc/hostname'), 'seine\n');
    for (const d of ['var/lib/apt/lists', 'var/cache/apt']) await ctx.exec('find', [path.join(root, d), '-type', 'f', '-delete']);

    // Boot partition: kernel + initrd under fixed names, and an example seine-node.yaml.
    const boot = path.join(root, BOOT_MOUNTPOINT);
    await mkdir(boot, { recursive: true });
    const bootFiles = await readdir(path.join(root, 'boot'));
    const vmlinuz = bootFiles.find((f) => f.startsWith('vmlinuz-'));
    const initrd = bootFiles.find((f) => f.startsWith('initrd.img-'));
    if (!vmlinuz || !initrd) throw new Error(`no kernel/initrd in /boot (${bootFiles.join(', ')}): is ${DEBIAN_SUITE}'s kernel package in the bootstrap?`);
    await copyFile(path.join(root, 'boot', vmlinuz), path.join(boot, 'vmlinuz'));
    await copyFile(path.join(root, 'boot', initrd), path.join(boot, 'initrd.img'));
    await copyFile(path.join(repo, 'images/seine-node.example.yaml'), path.join(boot, 'seine-node.example.yaml'));
    const kernelVersion = vmlinuz.slice('vmlinuz-'.length);
    // The boards' device trees, as the kernel package ships them, for U-Boot's fdtdir.
    await ctx.exec('cp', ['-r', path.join(root, 'usr/lib', `linux-image-${kernelVersion}`), path.join(boot, 'dtbs')]);
    await mkdir(path.join(boot, 'extlinux'), { recursive: true });
    await writeFile(path.join(boot, 'extlinux/extlinux.conf'), extlinuxConf(kernelVersion));
    await writeFile(path.join(boot, 'cmdline.txt'), raspberryPiCmdline());
    ctx.note = `kernel ${kernelVersion}`;
  });

  const layout = defaultLayout(o.arch);
  const img = path.join(o.out, layout.imageName);
  await stages.run('assemble', async (ctx) => {
    const cfg = path.join(work, 'genimage.cfg');
    await writeFile(cfg, genimageConfig(layout));
    const tmp = path.join(work, 'genimage-tmp');
    const input = path.join(work, 'genimage-in');
    const output = path.join(work, 'genimage-out');
    for (const d of [tmp, input, output]) await rm(d, { recursive: true, force: true });
    await mkdir(input, { recursive: true });
    await ctx.exec('genimage', ['--config', cfg, '--rootpath', root, '--tmppath', tmp, '--inputpath', input, '--outputpath', output]);
    await rm(img, { force: true });
    await ctx.exec('mv', [path.join(output, layout.imageName), img]);
    ctx.note = `${layout.imageName} ${((await stat(img)).size / 1e6).toFixed(0)} MB`;
  });

  const xz = `${img}.xz`;
  // A stale .xz from an earlier build must not sit next to an image it does not hold.
  await rm(xz, { force: true });
  if (o.compress) {
    await stages.run('compress', async (ctx) => {
      await ctx.exec('xz', ['-T0', '-3', '--keep', '--force', img]);
      ctx.note = `${((await stat(xz)).size / 1e6).toFixed(0)} MB`;
    });
  }

  return stages.run('manifest', async (ctx) => {
    const dpkg = await ctx.exec('dpkg-query', [`--admindir=${path.join(root, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\t${Version}\n']);
    const packages = dpkg.trim().split('\n').map((l) => l.split('\t')).map(([name, version]) => ({ name: name!, version: version! }));
    const versionOf = (name: string) => packages.find((p) => p.name === name)?.version ?? 'absent';
    const kernelPkg = packages.find((p) => /^linux-image-\d/.test(p.name));
    const commit = (await ctx.exec('git', ['rev-parse', 'HEAD'], { cwd: repo }).catch(() => 'unknown')).trim();
    const dirty = (await ctx.exec('git', ['status', '--porcelain'], { cwd: repo }).catch(() => '')).trim() !== '';
    const natives = [...(await findFiles(path.join(root, release, 'node_modules'), (f) => f.endsWith('.node'))), path.join(root, release, NATIVE_IN_RELEASE)];
    const used = (await ctx.exec('du', ['-sb', '--exclude', `.${BOOT_MOUNTPOINT}`, '.'], { cwd: root })).split('\t')[0];
    const pub = await readFile(path.join(root, 'etc/seine/release.pub'));
    let k3sVersion: string | undefined;
    if (o.k3s) k3sVersion = (await ctx.exec(o.k3s, ['--version']).catch(() => '')).split('\n')[0] || 'unknown (not runnable on the build machine)';
    const manifest: Manifest = {
      image: path.basename(img),
      compressed: o.compress ? path.basename(xz) : null,
      arch: o.arch,
      builtAt: new Date().toISOString(),
      seine: { version: pkg.version, commit: dirty ? `${commit}+dirty` : commit },
      debian: {
        suite: DEBIAN_SUITE,
        version: (await readFile(path.join(root, 'etc/debian_version'), 'utf8')).trim(),
        suites: plan.sources.map((s) => s.suite),
        securitySuite: o.security,
      },
      kernel: kernelPkg ? `${kernelPkg.name} ${kernelPkg.version}` : 'absent',
      node: {
        version: rt.nodeVersion,
        source: `npm package ${rt.nodePackage}@${rt.nodeVersion} (official Node binary)`,
        why: `Seine needs Node >= 20; ${DEBIAN_SUITE}'s nodejs is 18.20 (end of life)`,
      },
      nativeModules: await Promise.all(
        natives.map(async (f) => {
          const parts = path.relative(path.join(root, release, 'node_modules'), f).split('/');
          const name = f.endsWith(NATIVE_IN_RELEASE) ? 'seine_native' : parts[0]!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
          return {
            name,
            file: `/${path.relative(root, f)}`,
            elf: elfMachineName(elfInfo(await head(f))?.machine ?? 0),
            // sqlite3 is the one module compiled here; the rest are npm's per-platform packages.
            builtBy: name === 'sqlite3' || name === 'seine_native' ? `node-gyp cross-compile (${rt.triplet}-g++), N-API` : `prebuilt for linux-${rt.gypArch} (npm package)`,
          };
        }),
      ),
      openvswitch: versionOf('openvswitch-switch'),
      k3s: o.k3s
        ? { included: true, ...(k3sVersion ? { version: k3sVersion } : {}), note: `installed from ${path.basename(o.k3s)} to /usr/local/bin/k3s` }
        : {
            included: false,
            note: 'not in the image: k3s releases come from GitHub, which the build machine could not reach. Build with --k3s FILE, or copy the k3s binary for this architecture to /usr/local/bin/k3s on the box (k3s.service starts once it is there).',
          },
      releasePublicKey: { path: '/etc/seine/release.pub', sha256: sha256Of(pub), generated: pubkeyGenerated },
      sizes: { imageBytes: (await stat(img)).size, compressedBytes: o.compress ? (await stat(xz)).size : null, rootfsUsedBytes: Number(used) },
      sha256: { image: await sha256File(img), compressed: o.compress ? await sha256File(xz) : null },
      timings: stages.timings,
      packages,
    };
    await writeFile(path.join(o.out, `seine-${o.arch}.manifest.json`), `${JSON.stringify(manifest, null, 2)}\n`);
    if (!o.keepWork) await rm(work, { recursive: true, force: true });
    ctx.note = `seine-${o.arch}.manifest.json`;
    manifest.timings = stages.timings;
    return manifest;
  });
}

async function head(file: string): Promise<Buffer> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64);
    await fh.read(buf, 0, 64, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

async function findFiles(dir: string, match: (f: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && match(e.name)) out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

function sha256Of(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      out: { type: 'string', default: path.join(repo, 'out/images') },
      cache: { type: 'string', default: process.env.SEINE_IMAGE_CACHE ?? '/var/cache/seine-image' },
      k3s: { type: 'string' },
      'release-pubkey': { type: 'string' },
      'no-security': { type: 'boolean', default: false },
      'keep-work': { type: 'boolean', default: false },
      'no-compress': { type: 'boolean', default: false },
    },
  });
  if (!ARCHES.includes(values.arch as Arch)) throw new Error(`--arch: expected one of ${ARCHES.join('|')}, got ${JSON.stringify(values.arch ?? '')}`);
  for (const [flag, file] of [['--k3s', values.k3s], ['--release-pubkey', values['release-pubkey']]] as const) {
    if (file && !existsSync(file)) throw new Error(`${flag}: no such file ${file}`);
  }
  const out = path.resolve(values.out!);
  await mkdir(out, { recursive: true });
  const t0 = Date.now();
  const m = await buildImage({
    arch: values.arch as Arch,
    out,
    cacheDir: path.resolve(values.cache!),
    k3s: values.k3s && path.resolve(values.k3s),
    releasePubkey: values['release-pubkey'] && path.resolve(values['release-pubkey']),
    security: !values['no-security'],
    keepWork: values['keep-work']!,
    compress: !values['no-compress'],
  });
  const line = m.timings.map((t) => `${t.stage} ${t.seconds.toFixed(0)}s`).join(', ');
  const took = ((Date.now() - t0) / 1000).toFixed(0);
  const imageLine = `${(m.sizes.imageBytes / 1e6).toFixed(0)} MB, sha256 ${m.sha256.image.slice(0, 16)}…`;
  if (m.compressed === null || m.sizes.compressedBytes === null) {
    process.stderr.write(`[image] ${path.join(out, m.image)}: ${imageLine}, not compressed (--no-compress) in ${took} s: ${line}\n`);
    return;
  }
  process.stderr.write(
    `[image] ${path.join(out, m.compressed)}: ${(m.sizes.compressedBytes / 1e6).toFixed(0)} MB (image ${imageLine}) in ${took} s: ${line}\n` +
      `[image] flash: xzcat ${m.compressed} | sudo dd of=/dev/sdX bs=4M conv=fsync status=progress (or balenaEtcher / Raspberry Pi Imager)\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((err) => {
    process.stderr.write(`[image] ${err instanceof StageError ? err.message : (err as Error).stack}\n`);
    process.exit(1);
  });
}

export type { StageContext };
