// The memory rows' same-run anchor: a bare node process started with the agent's Node settings
// (src/lib/small-box.ts): what Node itself costs before any of Seine loads.
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../../src/lib/small-box.js';
import { spawnCollect } from '../helpers/spawn.js';

export const BARE_NODE_LABEL = 'bare node process, same flags (src/lib/small-box.ts)';

/** VmRSS of that process, MiB. */
export async function bareNodeRss(): Promise<number> {
  const script = "setTimeout(() => process.stdout.write(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]), 300)";
  const r = await spawnCollect(process.execPath, [...AGENT_NODE_FLAGS, '-e', script], { env: { ...process.env, ...AGENT_NODE_ENV } });
  const kb = Number(r.stdout);
  if (r.code !== 0 || !(kb > 0)) throw new Error(`bare node process: exit ${r.code}, ${r.stdout} ${r.stderr}`);
  return kb / 1024;
}
