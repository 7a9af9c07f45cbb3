// REST for releases and rollouts (a raw route of the REST server: bundles are binary and
// served with byte ranges).
//   PUT  /api/v1/releases/<version>/<arch>         body: the bundle; header X-Seine-Manifest: base64 of the .manifest.json
//   GET  /api/v1/releases                          stored releases
//   GET  /api/v1/releases/<version>/<arch>/manifest | /bundle (Range)
//   POST /api/v1/rollouts                          RolloutCreate (JSON)
//   GET  /api/v1/rollouts[/<name>]
//   POST /api/v1/rollouts/<name>/pause|resume|abort
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { RELEASE_ARCHES, RolloutCreateSchema, type ReleaseArch } from '../../api/release.js';
import { describeZodError, formatIssues } from '../../api/issues.js';
import { createLogger } from '../../lib/log.js';
import { isVersion } from '../../lib/semver.js';
import { ReleaseRefused, parseSignedManifest } from '../../release/verify.js';
import { authorize, type TokenSets } from '../rest/auth.js';
import { HttpError, readBody, sendJson } from '../../api/http.js';
import { NoReleaseKeys, ReleaseConflict, type ReleaseStore } from './release-store.js';
import { RolloutError, type Rollouts } from './rollouts.js';
import { serveFile } from './serve-file.js';

const log = createLogger('controller.releases');

/** Largest release bundle upload by default (an agent bundle is tens of MiB). */
export const DEFAULT_UPLOAD_MAX_BYTES = 512 << 20;

export type RawRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/**
 * `maxUploadBytes`: the largest release bundle taken (config releaseUploadMaxBytes). `nodeAuth`:
 * the node a request's client certificate names (trust/routes.ts nodeIdentity); a box holds no
 * REST token, it reads manifests and bundles under /api/v1/node/releases/… with its certificate.
 */
export function releaseRoutes(
  releases: ReleaseStore, rollouts: Rollouts, tokens: TokenSets, maxUploadBytes = DEFAULT_UPLOAD_MAX_BYTES, nodeAuth?: (req: IncomingMessage) => Promise<string>,
): RawRoute {
  return async (req, res, url) => {
    let p = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const nodeScoped = /^\/api\/v1\/node(\/releases\/[^/]+\/[^/]+\/(?:manifest|bundle))$/.exec(p);
    let actor: string;
    if (nodeScoped && nodeAuth && (method === 'GET' || method === 'HEAD')) {
      actor = `node:${await nodeAuth(req)}`;
      p = `/api/v1${nodeScoped[1]}`;
    } else {
      if (!p.startsWith('/api/v1/releases') && !p.startsWith('/api/v1/rollouts')) return false;
      actor = authorize(req, tokens, method === 'GET' || method === 'HEAD' ? 'read' : 'admin');
    }
    try {
      if (p === '/api/v1/releases' && method === 'GET') return json(res, 200, { items: await releases.list() });
      const rel = /^\/api\/v1\/releases\/([^/]+)\/([^/]+)(?:\/(manifest|bundle))?$/.exec(p);
      if (rel) {
        const [version, arch, part] = [decodeURIComponent(rel[1]!), decodeURIComponent(rel[2]!), rel[3]];
        if (!isVersion(version)) throw invalid('version', `expected a version MAJOR.MINOR.PATCH[-pre], got ${JSON.stringify(version)}`);
        if (!(RELEASE_ARCHES as readonly string[]).includes(arch)) throw invalid('arch', `expected one of ${RELEASE_ARCHES.join('|')}, got ${JSON.stringify(arch)}`);
        if (!part && method === 'PUT') return await upload(req, res, releases, rollouts, version, arch as ReleaseArch, actor, maxUploadBytes);
        const signed = await releases.manifest(version, arch);
        if (!signed) throw new HttpError(404, 'NotFound', `release ${version} (${arch}) not found`);
        if (part === 'manifest' && method === 'GET') return json(res, 200, signed);
        if (part === 'bundle' && (method === 'GET' || method === 'HEAD')) {
          await serveFile(req, res, releases.bundlePath(version, arch as ReleaseArch));
          return true;
        }
        throw new HttpError(405, 'MethodNotAllowed', `${method} ${p}`);
      }
      if (p === '/api/v1/rollouts' && method === 'GET') return json(res, 200, { items: await rollouts.list() });
      if (p === '/api/v1/rollouts' && method === 'POST') {
        const body = await readBody(req, 64 * 1024);
        let input: unknown;
        try {
          input = JSON.parse(body);
        } catch (err) {
          throw new HttpError(400, 'BadRequest', `not JSON: ${(err as Error).message}`);
        }
        const parsed = RolloutCreateSchema.safeParse(input);
        if (!parsed.success) throw new HttpError(422, 'Invalid', describeZodError(parsed.error), formatIssues(parsed.error.issues).map((i) => ({ field: i.path, message: i.message })));
        return json(res, 201, await rollouts.create(parsed.data));
      }
      const ro = /^\/api\/v1\/rollouts\/([^/]+)(?:\/(pause|resume|abort))?$/.exec(p);
      if (ro && !ro[2] && method === 'GET') return json(res, 200, await rollouts.get(decodeURIComponent(ro[1]!)));
      if (ro && ro[2] && method === 'POST') return json(res, 200, await rollouts.act(decodeURIComponent(ro[1]!), ro[2] as 'pause' | 'resume' | 'abort'));
      throw new HttpError(404, 'NotFound', `no route ${method} ${p}`);
    } catch (err) {
      if (err instanceof RolloutError) throw new HttpError(err.code, err.code === 404 ? 'NotFound' : err.code === 409 ? 'Conflict' : 'Invalid', err.message, err.field ? [{ field: err.field, message: err.message }] : undefined);
      if (err instanceof ReleaseRefused) throw new HttpError(422, 'Invalid', `refused (${err.reason}): ${err.message}`, [{ field: 'manifest', message: err.message }]);
      if (err instanceof ReleaseConflict || err instanceof NoReleaseKeys) throw new HttpError(409, 'Conflict', err.message);
      throw err;
    }
  };
}

async function upload(req: IncomingMessage, res: ServerResponse, releases: ReleaseStore, rollouts: Rollouts, version: string, arch: ReleaseArch, actor: string, maxBytes: number): Promise<boolean> {
  const header = req.headers['x-seine-manifest'];
  if (typeof header !== 'string') throw new HttpError(400, 'BadRequest', 'the X-Seine-Manifest header (base64 of the .manifest.json) is required');
  const signed = parseSignedManifest(Buffer.from(header, 'base64').toString('utf8'), 'X-Seine-Manifest');
  if (signed.manifest.version !== version || signed.manifest.arch !== arch) throw invalid('manifest', `the manifest is for ${signed.manifest.version} (${signed.manifest.arch}), the path for ${version} (${arch})`);
  // Bounded before anything reaches the disk: by the configured maximum, and by the size the manifest states.
  const size = signed.manifest.bundle.size;
  if (size > maxBytes) throw new HttpError(413, 'RequestEntityTooLarge', `bundle.size ${size} is over the upload limit of ${maxBytes} bytes (releaseUploadMaxBytes)`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > size) throw new HttpError(413, 'RequestEntityTooLarge', `the body (${declared} bytes) is larger than the manifest's bundle.size ${size}`);
  // A corrected upload of a stored version (e.g. one boxes refused) replaces it while no rollout is using it.
  const replacing = async () => {
    const why = await rollouts.inUse(version);
    if (why) throw new ReleaseConflict(`release ${version} (${arch}) is stored with another manifest and ${why}: it cannot be replaced now`);
  };
  const { created, replaced, release } = await releases.add(signed, capped(req, size), replacing);
  log.info({ actor, version, arch, created, replaced, sha256: release.sha256 }, replaced ? 'release replaced' : 'release uploaded');
  return json(res, created ? 201 : 200, release);
}

/** The request body, failing with 413 past `limit` bytes (a body without Content-Length, or a lying one); read only when consumed. */
function capped(req: IncomingMessage, limit: number): Readable {
  return Readable.from((async function* () {
    let seen = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > limit) throw new HttpError(413, 'RequestEntityTooLarge', `the body is larger than the manifest's bundle.size ${limit}`);
      yield chunk;
    }
  })());
}

function invalid(field: string, message: string): HttpError {
  return new HttpError(422, 'Invalid', `${field}: ${message}`, [{ field, message }]);
}

function json(res: ServerResponse, code: number, body: unknown): true {
  sendJson(res, code, body);
  return true;
}
