// Uploaded releases: the signed manifest per version and architecture in the store (table
// `releases`, SQLite or PostgreSQL), the bundle as a file under releasesDir. An upload is
// checked before it is kept: signed, bundle size and sha256 as the manifest says (and the
// signature against `trustedKey` when the controller has one); the file is renamed into place
// only then, so a failed upload leaves nothing.
import type { KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { ReleaseArch, SignedManifest, StoredRelease } from '../../api/release.js';
import { SignedManifestSchema } from '../../api/release.js';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';
import { compareVersions } from '../../lib/semver.js';
import { checkBundle, checkSignature, ReleaseRefused } from '../../release/verify.js';

const MIGRATIONS = [
  `CREATE TABLE releases (
     version TEXT NOT NULL,
     arch TEXT NOT NULL,
     manifest TEXT NOT NULL,        -- the signed manifest, JSON
     uploaded TEXT NOT NULL,
     PRIMARY KEY (version, arch))`,
];

export class ReleaseConflict extends Error {}

export class ReleaseStore {
  private constructor(private readonly db: SqlDatabase, readonly dir: string, private readonly trustedKey?: KeyObject) {}

  static async open(db: SqlDatabase, dir: string, trustedKey?: KeyObject): Promise<ReleaseStore> {
    await migrate(db, 'controller-releases', MIGRATIONS);
    await mkdir(dir, { recursive: true });
    return new ReleaseStore(db, dir, trustedKey);
  }

  bundlePath(version: string, arch: ReleaseArch): string {
    return path.join(this.dir, `seine-agent-${version}-${arch}.tar.gz`);
  }

  /** Takes a release: the manifest must be signed and the bundle must match it. Re-uploading the same release is a no-op. */
  async add(signed: SignedManifest, bundle: Readable): Promise<{ created: boolean; release: StoredRelease }> {
    const m = signed.manifest;
    if (!signed.signature) throw new ReleaseRefused('unsigned', `release ${m.version} (${m.arch}) is unsigned: sign it (seine release sign) before uploading`);
    if (this.trustedKey) checkSignature(signed, this.trustedKey);
    const existing = await this.manifest(m.version, m.arch);
    const tmp = path.join(this.dir, `.upload-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(bundle, createWriteStream(tmp));
      await checkBundle(signed, tmp);
      if (existing) {
        if (existing.manifest.bundle.sha256 !== m.bundle.sha256) throw new ReleaseConflict(`release ${m.version} (${m.arch}) exists with another bundle (sha256 ${existing.manifest.bundle.sha256}); versions are immutable`);
        return { created: false, release: stored(existing, '') };
      }
      await rename(tmp, this.bundlePath(m.version, m.arch));
      const uploaded = new Date().toISOString();
      await this.db.run('INSERT INTO releases (version, arch, manifest, uploaded) VALUES (?, ?, ?, ?)', [m.version, m.arch, JSON.stringify(signed), uploaded]);
      return { created: true, release: stored(signed, uploaded) };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async manifest(version: string, arch: string): Promise<SignedManifest | undefined> {
    const row = await this.db.get<{ manifest: string }>('SELECT manifest FROM releases WHERE version = ? AND arch = ?', [version, arch]);
    return row ? SignedManifestSchema.parse(JSON.parse(row.manifest)) : undefined;
  }

  /** Every architecture's manifest of one version. */
  async manifests(version: string): Promise<Map<ReleaseArch, SignedManifest>> {
    const rows = await this.db.all<{ arch: string; manifest: string }>('SELECT arch, manifest FROM releases WHERE version = ?', [version]);
    return new Map(rows.map((r) => [r.arch as ReleaseArch, SignedManifestSchema.parse(JSON.parse(r.manifest))]));
  }

  async list(): Promise<StoredRelease[]> {
    const rows = await this.db.all<{ manifest: string; uploaded: string }>('SELECT manifest, uploaded FROM releases');
    return rows.map((r) => stored(SignedManifestSchema.parse(JSON.parse(r.manifest)), r.uploaded))
      .sort((a, b) => compareVersions(b.version, a.version) || a.arch.localeCompare(b.arch));
  }
}

function stored(s: SignedManifest, uploaded: string): StoredRelease {
  const m = s.manifest;
  return { version: m.version, arch: m.arch, size: m.bundle.size, sha256: m.bundle.sha256, keyId: s.signature?.keyId ?? '', created: m.created, uploaded };
}
