// A small client of the controller's REST API, for seinectl and (later) the Node-RED nodes.
// Errors come back as one line: the Status message, or what went wrong with the connection.
import { lookupKind, type KindInfo } from '../../api/kinds.js';
import { UserError } from '../../lib/errors.js';
import { resourceUrl } from '../rest/paths.js';

export class RestClient {
  constructor(readonly server: string, private readonly token?: string) {}

  async request<T>(method: string, path: string, body?: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server.replace(/\/$/, '')}${path}`, {
        method,
        headers: { 'content-type': 'application/yaml', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UserError(`cannot reach the controller at ${this.server}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const status = json as { message?: string; details?: { causes?: { message: string }[] } } | undefined;
      const causes = status?.details?.causes?.map((c) => c.message);
      throw new UserError(causes?.length ? causes.join('\n') : (status?.message ?? `HTTP ${res.status}`));
    }
    return json as T;
  }
}

export function resolveKind(name: string): KindInfo {
  const kind = lookupKind(name);
  if (!kind) throw new UserError(`unknown resource type "${name}" (try acnp, anp, netpol, tier, cg, grp, tf, eg, eip)`);
  return kind;
}

export { resourceUrl };
