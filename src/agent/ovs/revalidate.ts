// Empties ovs-vswitchd's datapath flow cache. A flow change takes effect for new upcalls at
// once, but packets that hit a cached megaflow (after a conntrack recirculation, or arriving
// from the tunnel) keep the old actions until the revalidators' next round, up to ~0.5 s
// later (measured: a traced packet hit a stale `tos=0x4 → output` megaflow). A feature that
// needs its new flows to see the very next packet (Traceflow) purges the cache instead of
// waiting: every flow's next packet then takes one upcall. The lab names vswitchd's control socket ovs-vswitchd.ctl; a box has
// the usual ovs-vswitchd.<pid>.ctl, which `-t ovs-vswitchd` finds through the pidfile.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../lib/exec.js';

export function purgeDatapathFlows(rundir: string, env: NodeJS.ProcessEnv = process.env): () => Promise<void> {
  const ctl = path.join(rundir, 'ovs-vswitchd.ctl');
  return async () => {
    const target = existsSync(ctl) ? ctl : 'ovs-vswitchd';
    await run('ovs-appctl', ['-t', target, 'revalidator/purge'], { env: { ...env, OVS_RUNDIR: rundir }, timeoutMs: 5000 });
  };
}
