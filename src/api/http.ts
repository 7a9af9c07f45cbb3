// Small HTTP helpers: bounded body reading, JSON replies, Kubernetes-shaped error bodies, checked query parameters.
// Shared by the controller's REST server and the agent's local API; here in the contract layer because
// the error body is controller-api.ts's Status and bad parameters are named as issues.ts names them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { ErrorStatus } from './controller-api.js';
import { describeProblem, formatIssues } from './issues.js';

export class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly causes?: { field: string; message: string }[]) {
    super(message);
    this.name = 'HttpError';
  }

  toStatus(): ErrorStatus {
    return {
      kind: 'Status',
      status: 'Failure',
      code: this.code,
      reason: this.reason,
      message: this.message,
      ...(this.causes ? { details: { causes: this.causes } } : {}),
    };
  }
}

export async function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new HttpError(413, 'RequestEntityTooLarge', `request body larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Query parameters checked by their zod schema (values as strings, as in the URL): 400 naming each bad parameter. */
export function parseQuery<T extends z.ZodType>(schema: T, q: URLSearchParams): z.output<T> {
  const r = schema.safeParse(Object.fromEntries(q), { reportInput: true });
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  const causes = problems.map((p) => ({ field: p.path, message: describeProblem(p) }));
  throw new HttpError(400, 'BadRequest', `query ${problems.map(describeProblem).join('; ')}`, causes);
}
