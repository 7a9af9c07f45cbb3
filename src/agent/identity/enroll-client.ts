// The box's side of enrollment over HTTPS. It first fetches the controller's CA without
// verifying anything (it has nothing to verify with yet) and accepts it only when its SHA-256
// matches the fingerprint it was given out of band (seinectl node add); nothing secret is sent
// before that. Every later request trusts that CA alone: enrollment with the join token, and
// renewal, which authenticates with the node's current client certificate.
import https from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { NodeCertificateResponseSchema, type NodeCertificateResponse } from '../../api/enrollment.js';
import { describeZodError } from '../../api/issues.js';
import { caFingerprint } from '../../lib/certs.js';
import { UserError } from '../../lib/errors.js';

/** A refused or failed enrollment: the operator acts on it (a new token, the right fingerprint), so one line without a stack. */
export class EnrollmentError extends UserError {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'EnrollmentError';
  }
}

/** TLS material for requests: the pinned CA, and the node's key and certificate for node-scoped endpoints. */
export interface ClientTls {
  ca?: string;
  key?: string;
  cert?: string;
}

/** The controller's REST URL, optionally reached through a unix socket (the lab's boxes: the URL then names the host the certificate is checked for). */
export interface EnrollmentServer {
  url: string;
  socketPath?: string | undefined;
}

const TIMEOUT_MS = 15_000;

/** GET /cacerts without verification; the CA PEM when its fingerprint is the pinned one, else an EnrollmentError. */
export async function fetchPinnedCa(server: EnrollmentServer, fingerprint: string): Promise<string> {
  const url = checkServer(server.url);
  const res = await request(new URL('/cacerts', url), 'GET', undefined, { insecure: true }, server.socketPath);
  if (res.status !== 200) throw new EnrollmentError(`GET ${url.origin}/cacerts: HTTP ${res.status}`, res.status);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/.exec(res.text)?.[0];
  if (!pem) throw new EnrollmentError(`GET ${url.origin}/cacerts: no PEM certificate in the answer`);
  let got: string;
  try {
    got = caFingerprint(pem);
  } catch (err) {
    throw new EnrollmentError(`GET ${url.origin}/cacerts: not a certificate: ${(err as Error).message}`);
  }
  const want = fingerprint.toLowerCase();
  if (got.length !== want.length || !timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
    throw new EnrollmentError(`the controller's CA at ${url.origin} has fingerprint ${got}, not the pinned ${want}: refusing to enroll (wrong controller, or someone in between)`);
  }
  return pem;
}

/** POST /api/v1/enroll, trusting only `ca`. */
export async function enroll(server: EnrollmentServer, ca: string, body: { nodeName: string; token: string; csr: string }): Promise<NodeCertificateResponse> {
  return certificateCall(new URL('/api/v1/enroll', checkServer(server.url)), body, { ca }, server.socketPath);
}

/** POST /api/v1/node/renew with the node's current certificate, trusting only `tls.ca`. */
export async function renew(server: EnrollmentServer, tls: Required<ClientTls>, csr: string): Promise<NodeCertificateResponse> {
  return certificateCall(new URL('/api/v1/node/renew', checkServer(server.url)), { csr }, tls, server.socketPath);
}

async function certificateCall(url: URL, body: unknown, tls: ClientTls, socketPath: string | undefined): Promise<NodeCertificateResponse> {
  const res = await request(url, 'POST', JSON.stringify(body), tls, socketPath);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    throw new EnrollmentError(`POST ${url.pathname}: HTTP ${res.status}, not JSON`, res.status);
  }
  if (res.status !== 200) {
    throw new EnrollmentError(`POST ${url.pathname}: HTTP ${res.status}: ${(json as { message?: string }).message ?? 'refused'}`, res.status);
  }
  const r = NodeCertificateResponseSchema.safeParse(json);
  if (!r.success) throw new EnrollmentError(`POST ${url.pathname}: unexpected answer: ${describeZodError(r.error)}`);
  return r.data;
}

function checkServer(server: string): URL {
  const url = new URL(server);
  // Pinning a CA means nothing over plain HTTP.
  if (url.protocol !== 'https:') throw new EnrollmentError(`enrollment server ${server}: expected an https:// URL`);
  return url;
}

function request(url: URL, method: string, body: string | undefined, tls: ClientTls & { insecure?: boolean }, socketPath?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      ...(socketPath ? { socketPath } : {}),
      timeout: TIMEOUT_MS,
      // No connection reuse: a request with a client certificate must not share a socket with one without.
      agent: false,
      headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {},
      ...(tls.insecure ? { rejectUnauthorized: false } : { ca: tls.ca, rejectUnauthorized: true }),
      ...(tls.key && tls.cert ? { key: tls.key, cert: tls.cert } : {}),
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d.length + text.length > 1 << 20 ? '' : d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.origin}${url.pathname}: no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(new EnrollmentError(`${method} ${url.origin}${url.pathname}: ${err.message}`)));
    req.end(body);
  });
}
