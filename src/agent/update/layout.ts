// The on-box release layout: `<root>/releases/<version>/` holds each installed agent tree,
// `<root>/current` is a symlink to the one the launcher runs, and `<root>/previous` exists while
// `current` is on trial (the version the launcher goes back to). The launcher
// (src/launcher/launcher.ts) alone switches links; the agent only confirms its trial by removing
// `previous` — one atomic unlink, made durable: the commit point of an update.
// Each installed release keeps the digest of the manifest it came from (MANIFEST_DIGEST_FILE):
// pending.json carries it too, but a power cut may empty that file and the launcher then rebuilds
// the record without it; a rollback must still be refused per digest, not per version.
import { readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, removeFileDurable, writeFileDurable } from '../../lib/files.js';
import { compareVersions, isVersion } from '../../lib/semver.js';

/** In an installed release's directory: the manifestDigest() of the manifest it was installed from. */
export const MANIFEST_DIGEST_FILE = '.manifest-digest';
const DIGEST = /^[0-9a-f]{64}$/;

export class ReleaseLayout {
  constructor(readonly root: string) {}

  /** Records the manifest digest in a release tree (before it is renamed into place: it lands with it). */
  async writeDigest(tree: string, digest: string): Promise<void> {
    await writeFileDurable(path.join(tree, MANIFEST_DIGEST_FILE), digest);
  }

  /** The manifest digest an installed version came from; undefined for one installed otherwise (the image's). */
  async digestOf(version: string): Promise<string | undefined> {
    const text = await readFile(path.join(this.releaseDir(version), MANIFEST_DIGEST_FILE), 'utf8').catch(() => undefined);
    return text !== undefined && DIGEST.test(text.trim()) ? text.trim() : undefined;
  }

  get releasesDir(): string {
    return path.join(this.root, 'releases');
  }

  get currentLink(): string {
    return path.join(this.root, 'current');
  }

  get previousLink(): string {
    return path.join(this.root, 'previous');
  }

  releaseDir(version: string): string {
    return path.join(this.releasesDir, version);
  }

  /** The version `current` points to; undefined when there is no link. */
  async currentVersion(): Promise<string | undefined> {
    return this.linkVersion(this.currentLink);
  }

  /** The version `running` is on trial against (the `previous` link), undefined when it is not on trial. */
  async trialFrom(running: string): Promise<string | undefined> {
    const prev = await this.linkVersion(this.previousLink);
    return prev !== undefined && prev !== running && (await this.currentVersion()) === running ? prev : undefined;
  }

  /** Confirms the running version's trial: `previous` removed, durably. */
  async confirm(): Promise<void> {
    await removeFileDurable(this.previousLink);
  }

  /**
   * The switch the launcher makes, for an agent started without one (a box whose image predates
   * it): `previous` → from, then `current` → to, each a new link renamed over the old, durably.
   */
  async switchWithoutLauncher(from: string, to: string): Promise<void> {
    await this.setLink(this.previousLink, from);
    await this.setLink(this.currentLink, to);
  }

  /** The launcher's switch back, for an agent started without one: `current` → from, `previous` removed. */
  async rollBackWithoutLauncher(from: string): Promise<void> {
    await this.setLink(this.currentLink, from);
    await removeFileDurable(this.previousLink);
  }

  private async setLink(link: string, version: string): Promise<void> {
    const tmp = `${link}.next`;
    await rm(tmp, { force: true });
    await symlink(path.join('releases', version), tmp);
    await rename(tmp, link);
    await fsyncDir(this.root);
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

  private async linkVersion(link: string): Promise<string | undefined> {
    const target = await readlink(link).catch(() => undefined);
    return target === undefined ? undefined : path.basename(target);
  }
}
