// Keeps browsers from driving the API on an operator's behalf (CSRF, DNS rebinding): a web
// page can send a cross-origin request without a CORS preflight only with a "simple" content
// type (text/plain, a form) — so a write must name one of the API's own types — and a browser
// says where a request comes from (Origin, Sec-Fetch-Site) — so one from another origin is
// refused. Tools (seinectl, curl, Node-RED's runtime) send neither header and are unaffected.
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../api/http.js';

/** What the REST clients send: manifests (JSON, YAML), merge patches, release bundles. */
export const WRITE_CONTENT_TYPES: readonly string[] = [
  'application/json', 'application/yaml', 'application/x-yaml', 'application/merge-patch+json', 'application/octet-stream', 'application/gzip',
];

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Throws 403 for a cross-origin browser request and 415 for a write with a body of another content type. */
export function guardBrowserRequest(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') throw new HttpError(403, 'Forbidden', `cross-origin request refused (Sec-Fetch-Site: ${site}): the API is not for web pages`);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== ownOrigin(req)) {
    throw new HttpError(403, 'Forbidden', `cross-origin request refused (Origin: ${origin}): the API is not for web pages`);
  }
  if (!WRITES.has(req.method ?? 'GET')) return;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === '' && !hasBody(req)) return; // e.g. DELETE, or POST …/credentials, with nothing in it
  if (!WRITE_CONTENT_TYPES.includes(type)) {
    throw new HttpError(415, 'UnsupportedMediaType', `content-type ${type ? JSON.stringify(type) : '(none)'} is not accepted for ${req.method}: use ${WRITE_CONTENT_TYPES.join(', ')}`);
  }
}

/** The origin this request was addressed to, as a browser on the same page would send it. */
function ownOrigin(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (!host) return undefined;
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${tls ? 'https' : 'http'}://${host}`.toLowerCase();
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
