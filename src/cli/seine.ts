#!/usr/bin/env node
// `seine`: the command on a box and on a lab machine. Subcommands register themselves here
// (`lab`, `agent`, `controller`, `certs`).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { setLogLevel } from '../lib/log.js';
import { registerAgentCommand } from './agent-command.js';
import { registerCertsCommand } from './certs-command.js';
import { registerControllerCommand } from './controller-command.js';
import { registerFirstBootCommand } from './first-boot-command.js';
import { registerLabCommands } from './lab-commands.js';
import { registerReleaseCommand } from './release-command.js';
import { runCli } from './run.js';

// CLI output is for people: structured logs only when asked for (SEINE_LOG_LEVEL=debug).
setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'error');

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('seine')
  .description('Antrea-compatible policy networking for k3s edge boxes')
  .version(pkg.version)
  // `seine --version` is the program's; `seine release build --version V` the subcommand's.
  .enablePositionalOptions()
  // Suggestions come on a second line; errors stay one line.
  .showSuggestionAfterError(false);

registerLabCommands(program);
registerAgentCommand(program);
registerControllerCommand(program);
registerCertsCommand(program);
registerFirstBootCommand(program);
registerReleaseCommand(program);

await runCli(program);
