// `seine first-boot [--boot DIR]`: the image's seine-first-boot.service runs this once, before
// the agent and k3s. Errors go to stderr (the unit sends it to the console) and to the boot
// partition; the exit code keeps the agent from starting on a half-made box. On the box it first
// grows the root file system to the whole card (a failure there is reported, not fatal).
// Its modules load when it runs (the agent's process never needs them).
import type { Command } from 'commander';
import { run } from '../lib/exec.js';

export function registerFirstBootCommand(program: Command): void {
  program
    .command('first-boot')
    .description('provision this box from seine-node.yaml on the boot partition (once)')
    .option('--boot <dir>', 'where the boot partition is mounted', '/boot/firmware')
    .option('--root <dir>', 'the box file system to write (tests, image builds)', '/')
    .action(async (opts: { boot: string; root: string }) => {
      const live = opts.root === '/';
      const [{ growRoot }, { provisionFromBoot }] = await Promise.all([import('../agent/first-boot/grow-root.js'), import('../agent/first-boot/provision.js')]);
      if (live) {
        const grown = await growRoot().catch((err: Error) => ({ grown: false as const, reason: `failed: ${err.message}` }));
        process.stdout.write(
          grown.grown
            ? `seine first-boot: root file system grown by ${(grown.addedBytes / 2 ** 20).toFixed(0)} MiB (${grown.device})\n`
            : `seine first-boot: root file system not grown: ${grown.reason}\n`,
        );
      }
      const result = await provisionFromBoot({
        root: opts.root,
        bootDir: opts.boot,
        ...(live ? { setHostname: async (name: string) => void (await run('hostname', [name])) } : {}),
      });
      process.stdout.write(result.state === 'provisioned' ? `seine first-boot: provisioned node ${result.nodeName}\n` : 'seine first-boot: already provisioned\n');
    });
}
