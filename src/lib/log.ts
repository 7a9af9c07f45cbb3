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

export type { Logger };

export function createLogger(module: string): Logger {
  return root.child({ module });
}

export function setLogLevel(level: string): void {
  root.level = level;
}
