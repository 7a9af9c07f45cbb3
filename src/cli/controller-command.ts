// `seine controller --config FILE`: runs the fleet controller until SIGTERM/SIGINT.
// `seine controller credentials NODE --config FILE`: creates or rotates a node's MQTT password.
import type { Command } from 'commander';
import { ControllerConfigSchema } from '../api/config.js';
import { loadConfigFile } from '../api/config-file.js';
import { isDNS1123Subdomain } from '../api/meta.js';
import { Controller } from '../controller/main.js';
import { NodeRegistry } from '../controller/store/nodes.js';
import { UserError } from '../lib/errors.js';
import { serveUntilSignal } from './run.js';
import { createLogger, setLogLevel } from '../lib/log.js';
import { Database } from '../lib/sqlite.js';

const log = createLogger('controller');

export function registerControllerCommand(program: Command): void {
  const controller = program
    .command('controller')
    .description('run the fleet controller (store, MQTT broker, REST API)')
    .option('-c, --config <file>', 'controller config file (YAML)', '/etc/seine/controller.yaml')
    .action(async (opts: { config: string }) => {
      setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'info');
      const cfg = await loadConfigFile(opts.config, ControllerConfigSchema);
      const c = await Controller.start(cfg);
      await serveUntilSignal(log, () => c.stop());
    });

  controller
    .command('credentials <node>')
    .description("create (or rotate) a node's MQTT password; prints it once, the store keeps only a hash")
    .option('-c, --config <file>', 'controller config file (YAML)', '/etc/seine/controller.yaml')
    .action(async (node: string, opts: { config: string }) => {
      if (!isDNS1123Subdomain(node)) throw new UserError(`invalid node name ${JSON.stringify(node)}: expected lowercase alphanumerics, "-" or "."`);
      const cfg = await loadConfigFile(opts.config, ControllerConfigSchema);
      const db = await Database.open(cfg.storePath);
      try {
        const password = await (await NodeRegistry.open(db)).createCredentials(node, `cli:${process.env.USER ?? 'unknown'}`);
        process.stdout.write(`username: ${node}\npassword: ${password}\n`);
      } finally {
        await db.close();
      }
    });
}
