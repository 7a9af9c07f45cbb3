// Stage "bootstrap": a Debian root file system tarball for the target, made by mmdebstrap under
// qemu-user and cached by everything that determines its content (arch, suites, packages).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Arch, DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, DEBIAN_SUITE, packagesFor } from './packages.js';

export interface AptSource { suite: string; line: string }

/** Suites the image is built from; the security suite can be left out (armhf indexes fail here). */
export function aptSources(opts: { security: boolean }): AptSource[] {
  const sources: AptSource[] = [
    { suite: DEBIAN_SUITE, line: `deb ${DEBIAN_MIRROR} ${DEBIAN_SUITE} main` },
    { suite: `${DEBIAN_SUITE}-updates`, line: `deb ${DEBIAN_MIRROR} ${DEBIAN_SUITE}-updates main` },
  ];
  if (opts.security) {
    sources.push({ suite: `${DEBIAN_SUITE}-security`, line: `deb ${DEBIAN_SECURITY_MIRROR} ${DEBIAN_SUITE}-security main` });
  }
  return sources;
}

export interface BootstrapPlan {
  arch: Arch;
  packages: string[];
  sources: AptSource[];
  /** Cached tarball path: the key covers everything that changes its content. */
  tarball: string;
  argv: string[];
}

/**
 * The initramfs is built once, at the end, from the image's own initramfs-tools configuration
 * (rootfs/etc/initramfs-tools: a short module list). Left to the packages, update-initramfs runs
 * under qemu-user for every kernel and trigger with MODULES=most: over an hour per bootstrap.
 * So it is diverted to a no-op while packages install, then restored and run once.
 */
export function initramfsHooks(initramfsConfig: string): string[] {
  const tool = '/usr/sbin/update-initramfs';
  return [
    `--essential-hook=mkdir -p "$1/etc/initramfs-tools"`,
    `--essential-hook=sync-in ${initramfsConfig} /etc/initramfs-tools`,
    `--essential-hook=chroot "$1" dpkg-divert --quiet --local --rename --add ${tool} && printf '#!/bin/sh\nexit 0\n' > "$1${tool}" && chmod 755 "$1${tool}"`,
    `--customize-hook=rm "$1${tool}" && chroot "$1" dpkg-divert --quiet --local --rename --remove ${tool} && chroot "$1" update-initramfs -c -k all`,
  ];
}

/** Path and content of every file under dir, for cache keys. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }).sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))) {
    if (!e.isFile()) continue;
    h.update(join(e.parentPath, e.name).slice(dir.length)).update(readFileSync(join(e.parentPath, e.name)));
  }
  return h.digest('hex');
}

export function bootstrapPlan(arch: Arch, cacheDir: string, opts: { security: boolean; initramfsConfig: string }): BootstrapPlan {
  const packages = packagesFor(arch);
  const sources = aptSources(opts);
  const hooks = initramfsHooks(opts.initramfsConfig);
  const key = createHash('sha256')
    .update(JSON.stringify({ arch, variant: 'apt', packages, sources: sources.map((s) => s.line), hooks: hooks.map((h) => h.replace(opts.initramfsConfig, '')), initramfs: treeDigest(opts.initramfsConfig) }))
    .digest('hex')
    .slice(0, 16);
  const tarball = join(cacheDir, `rootfs-${DEBIAN_SUITE}-${arch}-${key}.tar`);
  const argv = [
    `--arch=${arch}`, '--variant=apt', '--format=tar', `--include=${packages.join(',')}`,
    // Packages' docs and man pages are dead weight on an SD card.
    '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    ...hooks,
    DEBIAN_SUITE, `${tarball}.partial`, ...sources.map((s) => s.line),
  ];
  return { arch, packages, sources, tarball, argv };
}

/** Which suite an mmdebstrap/apt failure log points at, so the error can name it. */
export function failingSuite(log: string, sources: AptSource[]): string | undefined {
  // apt prints e.g. "E: Failed to fetch http://…/debian-security/dists/bookworm-security/main/binary-armhf/Packages.xz  File has unexpected size"
  // or "Err:4 http://… bookworm-security/main armhf Packages".
  const lines = log.split('\n').filter((l) => /^(E:|Err:|W: Failed)/.test(l.trim()));
  for (const s of [...sources].sort((a, b) => b.suite.length - a.suite.length)) {
    const re = new RegExp(`(dists/${s.suite}/|\\s${s.suite}[/ ])`);
    if (lines.some((l) => re.test(l))) return s.suite;
  }
  return undefined;
}

export async function prepareCacheDir(cacheDir: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
}

export function isCached(plan: BootstrapPlan): boolean {
  return existsSync(plan.tarball);
}

export async function commitTarball(plan: BootstrapPlan): Promise<void> {
  await rename(`${plan.tarball}.partial`, plan.tarball);
}

export async function dropPartial(plan: BootstrapPlan): Promise<void> {
  await rm(`${plan.tarball}.partial`, { force: true });
}
