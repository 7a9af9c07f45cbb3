// REST for node identity (a raw route of the REST server: some paths take no bearer token).
//   GET    /cacerts                         the fleet CA (PEM), no auth: a box pins its fingerprint
//   POST   /api/v1/enroll                   {nodeName, token, csr} → node certificate; the token is consumed
//   POST   /api/v1/node/renew               {csr} over the node's client certificate → a new one
//   POST   /api/v1/nodes/<name>/join-token  admin: registers the node, a one-time token
//   DELETE /api/v1/nodes/<name>             admin: delete and revoke
//   POST   /api/v1/nodes/<name>/disable     admin: disable and revoke (listed as disabled)
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import { parse as parseYaml, stringify } from 'yaml';
import type { z } from 'zod';
import {
  EnrollRequestSchema, JoinTokenRequestSchema, RenewRequestSchema, type JoinTokenResponse, type NodeCertificateResponse,
} from '../../api/enrollment.js';
import { describeProblem, formatIssues } from '../../api/issues.js';
import { isDNS1123Subdomain } from '../../api/meta.js';
import { CertificateRequestError, caFingerprint, signCsr, type CaFiles } from '../../lib/certs.js';
import { createLogger } from '../../lib/log.js';
import { authorize, type TokenSets } from '../rest/auth.js';
import { HttpError, readBody, sendJson } from '../../api/http.js';
import type { NodeRegistry } from '../store/nodes.js';
import { JoinTokenError, type NodeTrust } from '../store/node-trust.js';
import type { NodeRevocation } from './revocation.js';

const log = createLogger('controller.enroll');

export interface TrustRouteContext {
  nodes: NodeRegistry;
  trust: NodeTrust;
  revocation: NodeRevocation;
  tokens: TokenSets;
  /** The CA that signs node certificates; absent: no TLS, enrollment answers 501. */
  ca?: CaFiles | undefined;
  /** Lifetime of a node certificate. */
  validitySeconds: number;
  /** The MQTT URL for the seine-node.yaml snippet (its host is replaced by the one the admin called). */
  brokerUrl: string;
}

export type RawRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export function trustRoutes(ctx: TrustRouteContext): RawRoute {
  let caPem: string | undefined;
  const ca = async () => {
    if (!ctx.ca) throw new HttpError(501, 'NotImplemented', 'this controller has no CA key (tls.caKeyFile): nodes cannot enroll; use node passwords (insecure) or configure TLS');
    return (caPem ??= await readFile(ctx.ca.certFile, 'utf8'));
  };
  return async (req, res, url) => {
    const p = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    if (p === '/cacerts' && method === 'GET') {
      const pem = await ca();
      res.writeHead(200, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem) }).end(pem);
      return true;
    }
    if (p === '/api/v1/enroll' && method === 'POST') return json(res, 200, await enroll(ctx, req, await ca()));
    if (p === '/api/v1/node/renew' && method === 'POST') {
      const node = await nodeIdentity(req, ctx);
      const { csr } = await body(req, RenewRequestSchema);
      return json(res, 200, await issue(ctx, node, csr, await ca(), 'renewed'));
    }
    const m = /^\/api\/v1\/nodes\/([^/]+)(?:\/(join-token|disable))?$/.exec(p);
    if (!m || (!m[2] && method !== 'DELETE') || (m[2] && method !== 'POST')) return false;
    const actor = authorize(req, ctx.tokens, 'admin');
    const node = decodeURIComponent(m[1]!);
    if (!isDNS1123Subdomain(node)) throw new HttpError(422, 'Invalid', `invalid node name ${JSON.stringify(node)}`, [{ field: 'name', message: 'expected a DNS-1123 subdomain' }]);
    if (m[2] === 'join-token') {
      const { ttlSeconds } = await body(req, JoinTokenRequestSchema, true);
      const fingerprint = caFingerprint(await ca());
      await ctx.nodes.register(node, actor);
      const t = await ctx.trust.createJoinToken(node, ttlSeconds);
      log.info({ actor, node, expiresAt: t.expiresAt }, 'join token issued');
      const reply: JoinTokenResponse = { node, token: t.token, expiresAt: t.expiresAt, caFingerprint: fingerprint, nodeFile: nodeFile(ctx, req, node, t.token, fingerprint) };
      return json(res, 201, reply);
    }
    const removal = await ctx.revocation.remove(node, actor, { disable: m[2] === 'disable' });
    if (!removal) throw new HttpError(404, 'NotFound', `node ${node} not found`);
    return json(res, 200, removal);
  };
}

async function enroll(ctx: TrustRouteContext, req: IncomingMessage, caPem: string): Promise<NodeCertificateResponse> {
  const { nodeName, token, csr } = await body(req, EnrollRequestSchema);
  let tokenId: string;
  try {
    tokenId = await ctx.trust.checkJoinToken(nodeName, token);
  } catch (err) {
    if (!(err instanceof JoinTokenError)) throw err;
    log.warn({ node: nodeName, reason: err.reason, remote: req.socket.remoteAddress }, 'enrollment refused');
    throw new HttpError(err.status, err.status === 401 ? 'Unauthorized' : 'Forbidden', err.message, [{ field: 'token', message: err.message }]);
  }
  const reply = await issue(ctx, nodeName, csr, caPem, 'enrolled');
  // Consumed after signing, atomically: of two racing requests only one keeps its certificate.
  if (!(await ctx.trust.consumeJoinToken(tokenId))) {
    await ctx.trust.revokeSerial(reply.serial);
    throw new HttpError(403, 'Forbidden', 'join token already used', [{ field: 'token', message: 'join token already used' }]);
  }
  return reply;
}

async function issue(ctx: TrustRouteContext, node: string, csr: string, caPem: string, what: string): Promise<NodeCertificateResponse> {
  let signed;
  try {
    signed = await signCsr(ctx.ca!, csr, { commonName: node, usages: ['clientAuth'], validitySeconds: ctx.validitySeconds });
  } catch (err) {
    if (err instanceof CertificateRequestError) throw new HttpError(422, 'Invalid', `csr: ${err.message}`, [{ field: 'csr', message: err.message }]);
    throw err;
  }
  await ctx.trust.recordCertificate(node, signed.serial, signed.notAfter);
  log.info({ node, serial: signed.serial, notAfter: signed.notAfter.toISOString() }, `node certificate ${what}`);
  return { node, certificate: signed.pem, caCertificate: caPem, notAfter: signed.notAfter.toISOString(), serial: signed.serial };
}

/**
 * The node a request's client certificate names: verified by the fleet CA, CN a registered
 * (not disabled) node, serial not revoked. For node-scoped endpoints (renewal, release downloads).
 */
export async function nodeIdentity(req: IncomingMessage, ctx: Pick<TrustRouteContext, 'nodes' | 'trust'>): Promise<string> {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) throw new HttpError(401, 'Unauthorized', 'a node client certificate is required (HTTPS)');
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject) throw new HttpError(401, 'Unauthorized', 'a node client certificate is required');
  if (!socket.authorized) throw new HttpError(401, 'Unauthorized', `client certificate not trusted: ${String(socket.authorizationError)}`);
  const node = cert.subject.CN;
  if (typeof node !== 'string' || !isDNS1123Subdomain(node)) throw new HttpError(403, 'Forbidden', 'the client certificate does not name a node');
  if (await ctx.trust.isRevoked(cert.serialNumber)) throw new HttpError(403, 'Forbidden', `certificate ${cert.serialNumber} of ${node} is revoked`);
  if (!(await ctx.nodes.exists(node))) throw new HttpError(403, 'Forbidden', `node ${node} is not registered (deleted or disabled)`);
  return node;
}

/** A JSON (or YAML) body checked by its schema: 400 for syntax, 422 naming each bad field. */
async function body<T extends z.ZodType>(req: IncomingMessage, schema: T, emptyOk = false): Promise<z.output<T>> {
  const text = await readBody(req, 64 * 1024);
  let input: unknown;
  try {
    input = text.trim() === '' && emptyOk ? {} : parseYaml(text);
  } catch (err) {
    throw new HttpError(400, 'BadRequest', `request body is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  throw new HttpError(422, 'Invalid', problems.map(describeProblem).join('\n'), problems.map((p) => ({ field: p.path, message: describeProblem(p) })));
}

/** seine-node.yaml for the box: the controller as the admin reached it (Host header), the broker on its port. */
function nodeFile(ctx: TrustRouteContext, req: IncomingMessage, node: string, token: string, fingerprint: string): string {
  const host = req.headers.host ?? '127.0.0.1';
  const hostname = host.replace(/:\d+$/, '');
  const secure = req.socket instanceof TLSSocket;
  const broker = new URL(ctx.brokerUrl.replace(/^mqtt\+unix:/, 'mqtt:'));
  return stringify({
    controllerUrl: `${broker.protocol}//${hostname}:${broker.port || 8883}`,
    server: `${secure ? 'https' : 'http'}://${host}`,
    nodeName: node,
    joinToken: token,
    caFingerprint: fingerprint,
  });
}

function json(res: ServerResponse, code: number, body: unknown): true {
  sendJson(res, code, body);
  return true;
}
