// Shared entry wrapper for the CLIs: one clear line on failure, never a stack trace
// unless SEINE_DEBUG is set.
import { Command, CommanderError } from 'commander';
import { UserError, errorMessage } from '../lib/errors.js';

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
