// The image under test: out/images/seine-<arch>.img from `npm run image`, built here when it is
// missing (SEINE_IMAGE_OUT to look elsewhere). armhf is built without bookworm-security, whose
// armhf index fails through this machine's package proxy (see docs/images.md).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../../images/build.js';
import type { Arch } from '../../images/packages.js';

export const repo = path.resolve(new URL('../..', import.meta.url).pathname);
export const imageDir = path.resolve(process.env.SEINE_IMAGE_OUT ?? path.join(repo, 'out/images'));

/** Architectures the image tests cover: SEINE_IMAGE_ARCHES="arm64 armhf", arm64 by default. */
export const imageArches = (process.env.SEINE_IMAGE_ARCHES ?? 'arm64').split(/[\s,]+/).filter(Boolean) as Arch[];

export async function builtImage(arch: Arch): Promise<{ image: string; manifest: Manifest }> {
  const image = path.join(imageDir, `seine-${arch}.img`);
  const manifestFile = path.join(imageDir, `seine-${arch}.manifest.json`);
  if (!existsSync(image) || !existsSync(manifestFile)) {
    const args = ['--import', 'tsx', path.join(repo, 'images/build.ts'), '--arch', arch, '--out', imageDir, ...(arch === 'armhf' ? ['--no-security'] : [])];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new Error(`npm run image -- --arch ${arch} failed (exit ${code}); see its output above`);
  }
  return { image, manifest: JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest };
}
