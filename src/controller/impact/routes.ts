// REST for impact preview and recommendation: POST /api/v1/impact and POST /api/v1/recommendation.
// Bodies are JSON or YAML, checked by the schemas of src/api/impact.ts; the change's objects by
// the manifest loader, so a problem names the item and field (`items[2].spec.ingress[0].action`).
import type http from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ImpactRequestSchema, RecommendRequestSchema } from '../../api/impact.js';
import { HttpError, readBody } from '../../api/http.js';
import { describeProblem, formatIssues } from '../../api/issues.js';
import { ManifestError, parseManifests } from '../../api/manifest.js';
import type { z } from 'zod';
import type { ImpactService } from './impact.js';

export const IMPACT_PATH = '/api/v1/impact';
export const RECOMMENDATION_PATH = '/api/v1/recommendation';

async function body<S extends z.ZodType>(req: http.IncomingMessage, schema: S, limit: number): Promise<z.infer<S>> {
  const text = await readBody(req, limit);
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : parseYaml(text);
  } catch (err) {
    throw new HttpError(400, 'BadRequest', `request body is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues);
    throw new HttpError(422, 'Invalid', problems.map(describeProblem).join('\n'), problems.map((p) => ({ field: p.path, message: describeProblem(p) })));
  }
  return parsed.data;
}

/** The route's answer, or undefined when the path is not one of these. */
export async function impactRoute(service: ImpactService | undefined, req: http.IncomingMessage, path: string, limit: number): Promise<unknown> {
  if (path !== IMPACT_PATH && path !== RECOMMENDATION_PATH) return undefined;
  if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', `${path} takes POST`);
  if (!service) throw new HttpError(501, 'NotImplemented', 'request/response is not wired in this controller');
  if (path === RECOMMENDATION_PATH) {
    const r = await body(req, RecommendRequestSchema, limit);
    return service.recommend({ namespace: r.namespace, sinceS: r.since, kind: r.kind, timeoutMs: r.timeoutMs });
  }
  const r = await body(req, ImpactRequestSchema, limit);
  let objects;
  try {
    objects = parseManifests(JSON.stringify(r.items), 'items');
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    const causes = err.problems.map((p) => ({ field: `items[${(p.item ?? 1) - 1}]${p.path ? `.${p.path}` : ''}`, message: p.message }));
    throw new HttpError(422, 'Invalid', causes.map((c) => `${c.field}: ${c.message}`).join('\n'), causes);
  }
  return service.preview({ objects, operation: r.operation, sinceS: r.since, timeoutMs: r.timeoutMs, limit: r.limit });
}
