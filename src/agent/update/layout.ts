// The on-box release layout: `<root>/releases/<version>/` holds each installed agent tree and
// `<root>/current` is a symlink to the one systemd runs. Switching is a new symlink renamed over
// `current` (rename is atomic): a crash at any point leaves either the old or the new link.
import { readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { compareVersions, isVersion } from '../../lib/semver.js';

export class ReleaseLayout {
  constructor(readonly root: string) {}

  get releasesDir(): string {
    return path.join(this.root, 'releases');
  }

  get currentLink(): string {
    return path.join(this.root, 'current');
  }

  releaseDir(version: string): string {
    return path.join(this.releasesDir, version);
  }

  /** The version `current` points to; undefined when there is no link. */
  async currentVersion(): Promise<string | undefined> {
    const target = await readlink(this.currentLink).catch(() => undefined);
    return target === undefined ? undefined : path.basename(target);
  }

  /** Points `current` at releases/<version> atomically (relative link: the tree can move as a whole). */
  async switchTo(version: string): Promise<void> {
    const tmp = `${this.currentLink}.next`;
    await rm(tmp, { force: true });
    await symlink(path.join('releases', version), tmp);
    await rename(tmp, this.currentLink);
  }

  /** Installed versions, newest first (unfinished unpack directories are not versions). */
  async installed(): Promise<string[]> {
    const names = await readdir(this.releasesDir).catch(() => [] as string[]);
    return names.filter(isVersion).sort((a, b) => compareVersions(b, a));
  }

  /** Removes installed versions beyond the running one and the `keep` newest others. */
  async prune(running: string, keep: number): Promise<string[]> {
    const others = (await this.installed()).filter((v) => v !== running);
    const gone = others.slice(keep);
    for (const v of gone) await rm(this.releaseDir(v), { recursive: true, force: true });
    return gone;
  }
}
