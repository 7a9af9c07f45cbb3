// `seinectl --local get fqdncache [DOMAIN]`: the names → addresses this box learned from its
// pods' DNS answers for fqdn rules, with their expiry (Antrea's `antctl get fqdncache`). The
// cache lives in the box's agent, so it is read through the agent's local API, never the
// controller. DOMAIN filters as antctl's --domain: an exact name or a leading-`*` wildcard.
import { stringify } from 'yaml';
import type { RestClient } from '../controller/client/rest-client.js';
import type { FqdnCacheRow } from '../agent/api-server.js';
import { table } from '../lib/table.js';

export const FQDNCACHE_RESOURCES = ['fqdncache', 'fqdn'];

export async function getFqdnCache(client: RestClient, domain: string | undefined, output: string): Promise<string> {
  const rows = await client.request<FqdnCacheRow[]>('GET', `/fqdncache${domain ? `?domain=${encodeURIComponent(domain)}` : ''}`);
  if (output === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (output === 'yaml') return stringify(rows);
  if (!rows.length) return 'No names learned (no fqdn rule on this box, or no pod resolved one of its names yet)\n';
  return table([['FQDN', 'ADDRESS', 'EXPIRATION TIME'], ...rows.map((r) => [r.fqdnName, r.ipAddress, r.expirationTime])]);
}
