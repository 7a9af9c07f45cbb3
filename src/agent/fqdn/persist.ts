// The FQDN cache across agent restarts: a restarted agent would otherwise forget every address
// its pods resolved, and new connections to them would be dropped until each pod looked the name
// up again (Seine's restarts keep enforcing without a gap; Antrea re-queries instead). Saved as
// one JSON file in the state dir after changes (coalesced, off the held-answer path: a crash
// loses at most the last answers), read back at start with the schemas — its addresses reach
// OpenFlow match strings — dropping what expired meanwhile.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileDurable } from '../../lib/files.js';
import { createLogger } from '../../lib/log.js';
import { IPAddressSchema } from '../../api/net.js';
import { fqdnPatternIssue } from '../../api/antrea-peer.js';
import type { CacheEntry } from './cache.js';

const log = createLogger('fqdn');

const FileSchema = z.object({
  version: z.literal(1),
  entries: z.array(z.object({
    fqdn: z.string().refine((n) => !n.startsWith('*') && fqdnPatternIssue(n) === undefined, 'not a DNS name'),
    address: IPAddressSchema,
    expiresAt: z.number().int().nonnegative(),
  })),
});

export async function loadCache(file: string): Promise<CacheEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, file }, 'fqdn cache not read; starting empty');
    return [];
  }
  try {
    return FileSchema.parse(JSON.parse(text)).entries;
  } catch (err) {
    log.warn({ err, file }, 'fqdn cache file invalid; starting empty');
    return [];
  }
}

export function saveCache(file: string, entries: readonly CacheEntry[]): Promise<void> {
  return writeFileDurable(file, JSON.stringify({ version: 1, entries }), 0o600);
}
