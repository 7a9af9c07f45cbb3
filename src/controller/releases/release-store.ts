// Uploaded releases: the signed manifest per version and architecture in the store (table
// `releases`, SQLite or PostgreSQL), the bundle as a file under releasesDir. An upload is
// checked before it is kept — signed by one of the controller's release keys, not expired, the
// bundle no longer than and then exactly as the manifest says (size, sha256) — and the file is
// renamed into place only then, so a refused upload leaves nothing. Without a release key every
// upload is refused: a controller that cannot check a release does not serve it.
import type { KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { ReleaseArch, SignedManifest, StoredRelease } from '../../api/release.js';
import { SignedManifestSchema } from '../../api/release.js';
import { byteCap } from '../../lib/byte-limit.js';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';
import { compareVersions } from '../../lib/semver.js';
import { checkBundle, checkNotExpired, checkSignature, manifestDigest, ReleaseRefused } from '../../release/verify.js';

const MIGRATIONS = [
  `CREATE TABLE releases (
     version TEXT NOT NULL,
     arch TEXT NOT NULL,
     manifest TEXT NOT NULL,        -- the signed manifest, JSON
     uploaded TEXT NOT NULL,
     PRIMARY KEY (version, arch))`,
];

export class ReleaseConflict extends Error {}

/** The controller has no release key to check uploads with (config `releaseKeys`). */
export class NoReleaseKeys extends Error {
  constructor() {
    super('release uploads are refused: this controller trusts no release key; set releaseKeys in its config to the release.pub file(s) the boxes trust (seine release keygen) and restart it');
  }
}

export class ReleaseStore {
  private constructor(private readonly db: SqlDatabase, readonly dir: string, private readonly trustedKeys: readonly KeyObject[]) {}

  static async open(db: SqlDatabase, dir: string, trustedKeys: readonly KeyObject[] = []): Promise<ReleaseStore> {
    await migrate(db, 'controller-releases', MIGRATIONS);
    await mkdir(dir, { recursive: true });
    return new ReleaseStore(db, dir, trustedKeys);
  }

  bundlePath(version: string, arch: ReleaseArch): string {
    return path.join(this.dir, `seine-agent-${version}-${arch}.tar.gz`);
  }

  /**
   * Takes a release after checking it (ReleaseRefused with the reason otherwise). The same signed
   * manifest again is a no-op; another one for a stored version (re-signed, or a corrected
   * bundle) replaces it — the caller decides whether a replacement is allowed (`replacing`).
   */
  async add(signed: SignedManifest, bundle: Readable, replacing?: (old: SignedManifest) => Promise<void>): Promise<{ created: boolean; replaced: boolean; release: StoredRelease }> {
    const m = signed.manifest;
    if (!signed.signature) throw new ReleaseRefused('unsigned', `release ${m.version} (${m.arch}) is unsigned: sign it (seine release sign) before uploading`);
    if (!this.trustedKeys.length) throw new NoReleaseKeys();
    checkSignature(signed, this.trustedKeys);
    checkNotExpired(signed);
    const existing = await this.manifest(m.version, m.arch);
    if (existing && manifestDigest(existing) === manifestDigest(signed)) {
      bundle.resume(); // the same release: its body is not needed
      return { created: false, replaced: false, release: stored(existing, '') };
    }
    if (existing) await replacing?.(existing);
    const tmp = path.join(this.dir, `.upload-${randomBytes(6).toString('hex')}`);
    try {
      // Never more than the manifest's size on disk; the rest of a longer body is read and dropped.
      const cap = byteCap(m.bundle.size);
      await pipeline(bundle, cap, createWriteStream(tmp));
      if (cap.seen() > m.bundle.size) throw new ReleaseRefused('sizeMismatch', `bundle ${m.bundle.file}: ${cap.seen()} bytes, the manifest says ${m.bundle.size}`);
      await checkBundle(signed, tmp);
      await rename(tmp, this.bundlePath(m.version, m.arch));
      const uploaded = new Date().toISOString();
      if (existing) await this.db.run('UPDATE releases SET manifest = ?, uploaded = ? WHERE version = ? AND arch = ?', [JSON.stringify(signed), uploaded, m.version, m.arch]);
      else await this.db.run('INSERT INTO releases (version, arch, manifest, uploaded) VALUES (?, ?, ?, ?)', [m.version, m.arch, JSON.stringify(signed), uploaded]);
      return { created: !existing, replaced: !!existing, release: stored(signed, uploaded) };
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
  return { version: m.version, arch: m.arch, size: m.bundle.size, sha256: m.bundle.sha256, keyId: s.signature?.keyId ?? '', created: m.created, ...(m.notAfter ? { notAfter: m.notAfter } : {}), uploaded };
}
