// The sandbox ("pause") image for the lab's containerd. No registry is reachable, so the lab
// builds a one-layer OCI image archive from Debian's busybox-static (a shell and the usual
// tools, ~2 MB) and imports it with `ctr image import`. Its entrypoint is a long sleep, which
// is all a pause container does. The CRI plugin's sandbox_image names it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

export const SANDBOX_IMAGE = 'seine.local/pause:busybox';
export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'sleep', 'ping', 'ip', 'ifconfig', 'cat', 'ls', 'nc', 'wget'];
/** pause's job: hold the namespaces. busybox sleep takes seconds as an integer. */
const PAUSE = ['/bin/sleep', '2147483647'];

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ociArch = () => ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' })[process.arch as string] ?? process.arch;

/** Writes the image archive (OCI layout in a tar) to `file`; reuses one already there. Safe to run concurrently. */
export async function buildSandboxImage(file: string): Promise<string> {
  if (existsSync(file)) return file;
  if (!existsSync(BUSYBOX)) throw new Error(`the containerd runtime needs ${BUSYBOX} for its sandbox image: apt-get install busybox-static`);
  const work = await mkdtemp(`${file}.build-`);
  try {
    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'bin'), { recursive: true });
    await copyFile(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    for (const a of APPLETS) await symlink('busybox', path.join(rootfs, 'bin', a));
    const layerFile = path.join(work, 'layer.tar');
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerFile, 'bin']);
    const layer = await readFile(layerFile);
    const config = Buffer.from(JSON.stringify({
      architecture: ociArch(),
      os: 'linux',
      config: { Entrypoint: PAUSE, Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha256(layer)}`, size: layer.length }],
    }));
    const index = {
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha256(manifest)}`,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': SANDBOX_IMAGE, 'org.opencontainers.image.ref.name': SANDBOX_IMAGE.split(':')[1] },
      }],
    };
    const oci = path.join(work, 'oci');
    await mkdir(path.join(oci, 'blobs/sha256'), { recursive: true });
    await writeFile(path.join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(oci, 'index.json'), JSON.stringify(index));
    for (const blob of [layer, config, manifest]) await writeFile(path.join(oci, 'blobs/sha256', sha256(blob)), blob);
    // Per build: the boxes of a lab start their containerds at once and may all build it; each
    // renames its own identical archive into place.
    const tmp = path.join(work, 'image.tar');
    await run('tar', ['-C', oci, '-cf', tmp, 'oci-layout', 'index.json', 'blobs']);
    await rename(tmp, file);
    return file;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
