// The lab's stand-in for systemd's Restart=always, for boxes of a lab started with OTA: runs
// `node <root>/current/dist/cli/seine.js agent --config FILE` and starts it again whenever it
// exits (the updater exits with 75 after switching `current`), resolving `current` anew each
// time. SIGTERM/SIGINT are passed to the agent; the supervisor exits when the agent has.
//   node dist/lab/agent-supervisor.js <root> <agent.yaml> <child-ref file>
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger, setLogLevel } from '../lib/log.js';
import { processRef } from '../lib/process.js';

const RESTART_DELAY_MS = 300; // systemd's RestartSec, small: tests wait on it

/** The file the supervisor keeps its agent's ProcessRef in (the lab kills it on a simulated crash). */
export const supervisedChildFile = (boxDir: string) => path.join(boxDir, 'agent-child.json');

function main(): void {
  setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'info');
  const log = createLogger('lab.supervisor');
  const [root, config, childFile] = process.argv.slice(2);
  if (!root || !config || !childFile) throw new Error('usage: agent-supervisor <root> <agent.yaml> <child-ref file>');
  let child: ChildProcess | undefined;
  let stopping = false;
  const start = () => {
    const program = path.join(root, 'current', 'dist', 'cli', 'seine.js');
    child = spawn(process.execPath, [program, 'agent', '--config', config], { stdio: 'inherit' });
    if (child.pid) writeFileSync(childFile, JSON.stringify(processRef(child.pid)));
    child.on('exit', (code, signal) => {
      if (stopping) process.exit(0);
      log.warn({ code, signal, restartInMs: RESTART_DELAY_MS }, 'agent exited; starting current again');
      setTimeout(start, RESTART_DELAY_MS);
    });
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      stopping = true;
      if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
      child.kill(sig);
    });
  }
  start();
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) main();
