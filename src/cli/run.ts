// Shared entry wrapper for the CLIs: one clear line on failure, never a stack trace
// unless SEINE_DEBUG is set.
import { Command, CommanderError } from 'commander';
import { UserError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export async function runCli(program: Command, argv = process.argv): Promise<void> {
  const name = program.name();
  // Subcommands keep the settings they were created with, so apply these to every level.
  const configure = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({
      // commander already formats its own errors as "error: …"; prefix with the program name.
      outputError: (str, write) => write(`${name}: ${str.replace(/^error: /, '')}`),
    });
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      process.exitCode = err.exitCode;
      return;
    }
    if (process.env.SEINE_DEBUG) console.error(err);
    const code = err instanceof UserError ? err.exitCode : 1;
    // A UserError may list several problems, one complete line each; anything else is cut to
    // its first line (the stack is behind SEINE_DEBUG).
    const lines = err instanceof UserError ? errorMessage(err).split('\n') : [errorMessage(err).split('\n')[0]];
    process.stderr.write(lines.map((l) => `${name}: ${l}\n`).join(''));
    process.exitCode = code;
  }
}

/**
 * For daemons: waits for SIGTERM or SIGINT, runs `stop`, then exits. Exiting explicitly keeps a
 * stopped daemon from lingering on a forgotten timer or socket (systemd would wait for it).
 */
export async function serveUntilSignal(log: Logger, stop: () => Promise<void>): Promise<never> {
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'stopping');
  try {
    await stop();
  } catch (err) {
    log.error({ err }, 'stop failed');
    process.exit(1);
  }
  process.exit(0);
}
