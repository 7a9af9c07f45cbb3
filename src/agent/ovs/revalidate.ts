// Empties ovs-vswitchd's datapath flow cache. A flow change takes effect for new upcalls at
// once, but packets that hit a cached megaflow (after a conntrack recirculation, or arriving
// from the tunnel) keep the old actions until the revalidators' next round, up to ~0.5 s
// later (measured: a traced packet hit a stale `tos=0x4 → output` megaflow). A feature that
// needs its new flows to see the very next packet (Traceflow) purges the cache instead of
// waiting: every flow's next packet then takes one upcall. The request goes to vswitchd's
// control socket directly (unixctl.ts), not through an ovs-appctl process: it is on every
// Traceflow's path. The lab names that socket ovs-vswitchd.ctl; a box has the usual
// ovs-vswitchd.<pid>.ctl, found through the pidfile.
import { unixctlCall, unixctlSocket, vswitchdTarget } from './unixctl.js';

export function purgeDatapathFlows(rundir: string, env: NodeJS.ProcessEnv = process.env): () => Promise<void> {
  return async () => {
    const socket = await unixctlSocket(vswitchdTarget(rundir), { ...env, OVS_RUNDIR: rundir });
    await unixctlCall(socket, 'revalidator/purge', [], 5000);
  };
}
