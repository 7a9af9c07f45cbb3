// Structured logging: one JSON object per line on stderr, always with a `module` field.
// Daemons log at info; CLIs lower the level so their own output stays readable.
import { pino, type Logger } from 'pino';

const root = pino(
  {
    level: process.env.SEINE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ dest: 2, sync: true }),
);

/** Every module's logger: a pino child keeps the level it was made with, so setLogLevel sets each. */
const modules: Logger[] = [];

export type { Logger };

export function createLogger(module: string): Logger {
  const child = root.child({ module });
  modules.push(child);
  return child;
}

/** Changes the level of every module's logger at once (a NodeConfig's logLevel, applied live). */
export function setLogLevel(level: string): void {
  root.level = level;
  for (const m of modules) m.level = level;
}

export function getLogLevel(): string {
  return root.level;
}
