// `seine controller --config FILE`: runs the fleet controller until SIGTERM/SIGINT.
// `seine controller credentials NODE --config FILE`: creates or rotates a node's MQTT password
// (insecure: true only: a TLS controller's nodes log in with certificates).
// The controller's modules load when one of these runs: an agent started by the same `seine`
// never loads the broker, the REST server or the PostgreSQL client.
import type { Command } from 'commander';
import { ControllerConfigSchema, type ControllerConfig } from '../api/config.js';
import { describeZodError } from '../api/issues.js';
import { loadConfigFile } from '../api/config-file.js';
import { isDNS1123Subdomain } from '../api/meta.js';
import { UserError } from '../lib/errors.js';
import { serveUntilSignal } from './run.js';
import { createLogger, setLogLevel } from '../lib/log.js';

const log = createLogger('controller');

export function registerControllerCommand(program: Command): void {
  const controller = program
    .command('controller')
    .description('run the fleet controller (store, MQTT broker, REST API)')
    .option('-c, --config <file>', 'controller config file (YAML)', '/etc/seine/controller.yaml')
    .option('--store <url>', 'PostgreSQL store URL (postgres://…), overrides storeUrl in the config')
    .action(async (opts: { config: string; store?: string }) => {
      setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'info');
      const cfg = await withStore(await loadConfigFile(opts.config, ControllerConfigSchema), opts.store);
      const [{ Controller }, { applyControllerHeapPolicy, CONTROLLER_NODE_ENV }] = await Promise.all([import('../controller/main.js'), import('../controller/heap.js')]);
      // The controller's heap policy (src/controller/heap.ts): the RSS stays near the live heap over fleet-wide rounds.
      applyControllerHeapPolicy();
      const unset = Object.entries(CONTROLLER_NODE_ENV).filter(([k]) => process.env[k] === undefined).map(([k, v]) => `${k}=${v}`);
      if (unset.length) log.info({ unset }, 'start the controller with this environment for a flat memory over fleet-wide rounds (docs/controller.md, Running it)');
      const c = await Controller.start(cfg);
      await serveUntilSignal(log, () => c.stop());
    });

  controller
    .command('credentials <node>')
    .description("create (or rotate) a node's MQTT password; prints it once, the store keeps only a hash")
    .option('-c, --config <file>', 'controller config file (YAML)', '/etc/seine/controller.yaml')
    .option('--store <url>', 'PostgreSQL store URL (postgres://…), overrides storeUrl in the config')
    .action(async (node: string, own: { config: string; store?: string }) => {
      // Options may be written before or after the subcommand: the parent's win only when given there.
      const parent = controller.opts() as { config: string; store?: string };
      const opts = { config: controller.getOptionValueSource('config') === 'cli' ? parent.config : own.config, store: parent.store ?? own.store };
      if (!isDNS1123Subdomain(node)) throw new UserError(`invalid node name ${JSON.stringify(node)}: expected lowercase alphanumerics, "-" or "."`);
      const cfg = await withStore(await loadConfigFile(opts.config, ControllerConfigSchema), opts.store);
      // Passwords are the insecure path; a TLS controller's nodes log in with node certificates.
      if (!cfg.insecure) throw new UserError(`${opts.config}: node passwords are only for a controller with insecure: true; nodes of a TLS controller log in with a node certificate signed by its CA`);
      const [{ openStoreDatabase }, { NodeRegistry }] = await Promise.all([import('../controller/main.js'), import('../controller/store/nodes.js')]);
      const db = await openStoreDatabase(cfg);
      try {
        const password = await (await NodeRegistry.open(db)).createCredentials(node, `cli:${process.env.USER ?? 'unknown'}`);
        process.stdout.write(`username: ${node}\npassword: ${password}\n`);
      } finally {
        await db.close();
      }
    });
}

/** `--store URL` is the config's storeUrl, validated by the same schema (the error names the field). */
async function withStore(cfg: ControllerConfig, store: string | undefined): Promise<ControllerConfig> {
  if (store === undefined) return cfg;
  const parsed = ControllerConfigSchema.safeParse({ ...cfg, storeUrl: store }, { reportInput: true });
  if (!parsed.success) throw new UserError(`--store: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
