// `seine release build`: the agent tree for one architecture as a tar.gz bundle plus its
// manifest (version, arch, size, sha256, minimum version, created), signed when a key is given.
// The tree is a directory laid out as /opt/seine/releases/<version>/ (dist/, node_modules/,
// package.json, bin/seine); by default it is staged from this checkout's dist/ and
// package.json (no node_modules: those come from the image build, compiled for the target).
import { createPrivateKey } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostReleaseArch, type ReleaseArch, type ReleaseManifest, type SignedManifest } from '../api/release.js';
import { UserError } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import { NATIVE_IN_CHECKOUT, NATIVE_IN_RELEASE } from '../lib/netlink/native.js';
import { projectRoot } from '../lib/paths.js';
import { readPublicKeyFiles, sha256File } from './verify.js';
import { keyIdOf, signManifest } from './signing.js';

/** Where a release ships the release keys boxes running it trust (key rotation), `*.pub`. */
export const RELEASE_KEYS_DIR = 'release-keys';

export const bundleFileName = (version: string, arch: ReleaseArch) => `seine-agent-${version}-${arch}.tar.gz`;
export const manifestFileName = (version: string, arch: ReleaseArch) => `seine-agent-${version}-${arch}.manifest.json`;

/** bin/seine in every release: runs the release's own dist with the box's node. */
export const BIN_WRAPPER = `#!/bin/sh
# Runs this release's agent; /opt/seine/current/bin/seine follows the current link.
here=$(dirname "$(readlink -f "$0")")
exec node "$here/../dist/cli/seine.js" "$@"
`;

export interface BuildOptions {
  version: string;
  arch: ReleaseArch;
  minVersion?: string | undefined;
  /** PKCS#8 PEM ed25519 key; without it the manifest is unsigned (sign it later with `seine release sign`). */
  keyFile?: string | undefined;
  outDir: string;
  /** An agent tree to pack; default: staged from this checkout (dist/, package.json). */
  from?: string | undefined;
  /** RFC 3339 time after which the release is refused (manifest.notAfter). */
  notAfter?: string | undefined;
  /** Public key files the boxes running this release trust instead of their configured ones (key rotation): shipped in release-keys/. */
  trustKeys?: readonly string[] | undefined;
}

export interface BuiltRelease {
  bundle: string;
  manifestFile: string;
  signed: SignedManifest;
}

export async function buildRelease(o: BuildOptions): Promise<BuiltRelease> {
  const key = o.keyFile ? createPrivateKey(await readFile(o.keyFile)) : undefined;
  const staging = await mkdtemp(path.join(tmpdir(), 'seine-release-'));
  try {
    const tree = path.join(staging, 'tree');
    await stageTree(o.from, tree, o.version, o.arch);
    await shipKeys(tree, o.trustKeys ?? []);
    await mkdir(o.outDir, { recursive: true });
    const bundle = path.join(o.outDir, bundleFileName(o.version, o.arch));
    // Reproducible: sorted names, no owners, one mtime.
    await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', bundle, '-C', tree, '.']);
    const manifest: ReleaseManifest = {
      version: o.version,
      arch: o.arch,
      ...(o.minVersion ? { minVersion: o.minVersion } : {}),
      bundle: { file: path.basename(bundle), size: (await stat(bundle)).size, sha256: await sha256File(bundle) },
      created: new Date().toISOString(),
      ...(o.notAfter ? { notAfter: o.notAfter } : {}),
    };
    const signed: SignedManifest = key ? signManifest(manifest, key) : { manifest };
    const manifestFile = path.join(o.outDir, manifestFileName(o.version, o.arch));
    await writeFile(manifestFile, `${JSON.stringify(signed, null, 2)}\n`);
    return { bundle, manifestFile, signed };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function stageTree(from: string | undefined, tree: string, version: string, arch: ReleaseArch): Promise<void> {
  if (from) {
    await cp(from, tree, { recursive: true, verbatimSymlinks: true });
  } else {
    const dist = path.join(projectRoot, 'dist');
    if (!(await stat(path.join(dist, 'cli', 'seine.js')).catch(() => undefined))) throw new UserError(`${dist}/cli/seine.js is missing: run npm run build first`);
    await mkdir(tree);
    await cp(dist, path.join(tree, 'dist'), { recursive: true });
    // The netlink addon lives outside dist/ in a checkout (node-gyp builds it in src/native),
    // for this machine's architecture; another's comes from the image build (images/native.ts).
    const addon = path.join(projectRoot, NATIVE_IN_CHECKOUT);
    if (arch === hostReleaseArch()) {
      if (!(await stat(addon).catch(() => undefined))) throw new UserError(`${addon} is missing: run npx node-gyp rebuild --directory=src/native (npm ci does it)`);
      await mkdir(path.dirname(path.join(tree, NATIVE_IN_RELEASE)), { recursive: true });
      await cp(addon, path.join(tree, NATIVE_IN_RELEASE));
    }
    await cp(path.join(projectRoot, 'package.json'), path.join(tree, 'package.json'));
  }
  const pkgFile = path.join(tree, 'package.json');
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8').catch(() => {
    throw new UserError(`${from}: no package.json (expected an agent tree: dist/, package.json, node_modules/)`);
  })) as Record<string, unknown>;
  if (!(await stat(path.join(tree, 'dist', 'cli', 'seine.js')).catch(() => undefined))) throw new UserError(`${from}: no dist/cli/seine.js`);
  // The agent reports package.json's version: it must be the release's.
  pkg.version = version;
  await writeFile(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  await mkdir(path.join(tree, 'bin'), { recursive: true });
  await writeFile(path.join(tree, 'bin', 'seine'), BIN_WRAPPER);
  await chmod(path.join(tree, 'bin', 'seine'), 0o755);
}

/** The trusted keys a release ships, as release-keys/<keyId>.pub (each checked to be an ed25519 public key). */
async function shipKeys(tree: string, files: readonly string[]): Promise<void> {
  if (!files.length) return;
  const dir = path.join(tree, RELEASE_KEYS_DIR);
  await mkdir(dir, { recursive: true });
  for (const key of await readPublicKeyFiles(files)) await writeFile(path.join(dir, `${keyIdOf(key)}.pub`), key.export({ type: 'spki', format: 'pem' }));
}

/** Unpacks a verified bundle into `dir` (which must not exist), refusing members that would land outside it. */
export async function unpackBundle(bundle: string, dir: string): Promise<void> {
  const names = (await run('tar', ['-tzf', bundle])).stdout.split('\n').filter(Boolean);
  const bad = names.find((n) => n.startsWith('/') || n.split('/').includes('..'));
  if (bad) throw new Error(`bundle member ${JSON.stringify(bad)} would land outside the release directory`);
  await mkdir(dir);
  await run('tar', ['--no-same-owner', '-xzf', bundle, '-C', dir]);
}
