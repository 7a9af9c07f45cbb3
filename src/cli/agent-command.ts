// `seine agent --config FILE`: runs the box agent until SIGTERM/SIGINT.
// The agent's modules load when this command runs (every `seine` call parses this file), and the
// agent's process never loads the controller's or the lab's (docs/agent.md, Footprint).
import type { Command } from 'commander';
import { AgentConfigSchema } from '../api/config.js';
import { loadConfigFile } from '../api/config-file.js';
import { serveUntilSignal } from './run.js';
import { createLogger, setLogLevel } from '../lib/log.js';
import { SdNotifier } from '../lib/sd-notify.js';

const log = createLogger('agent');

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the box agent (CNI server, OVS pipeline, sync)')
    .requiredOption('-c, --config <file>', 'agent config file (YAML)', '/etc/seine/agent.yaml')
    .action(async (opts: { config: string }) => {
      setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'info'); // a daemon logs what it does
      const cfg = await loadConfigFile(opts.config, AgentConfigSchema);
      const [{ Agent }, { startWithUpdates }] = await Promise.all([import('../agent/agent.js'), import('../agent/update/index.js')]);
      // The updater (signed releases, rollouts) settles a pending switch first; a no-op when off.
      const { agent, stopUpdates } = await startWithUpdates(cfg, () => Agent.start(cfg));
      // Type=notify units (rootfs/): ready once the datapath converged and the CNI socket is open.
      const systemd = new SdNotifier();
      await systemd.ready(`node ${cfg.nodeName} ready`);
      await serveUntilSignal(log, async () => {
        await systemd.stopping();
        stopUpdates();
        await agent.stop();
      });
    });
}
