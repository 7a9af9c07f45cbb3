// The controller process's V8 heap policy, set by `seine controller` before it starts (issue #22:
// the controller's RSS at 10k boxes flat after the first round).
//
// Every fleet-wide round brings one report per box and sends one document per box; what lives
// through a round's intake batches and the send (until each PUBACK, seconds at 10k) outlives V8's
// young generation and dies in the old one. V8 then lets the old generation grow to ~2.5× the
// live heap before a major GC, so the RSS saw-tooths with the rounds (measured at 10k on main:
// 304–544 MiB with ~110 MiB live) and "last round against the first" says where the sample fell.
// --heap-growing-percent=25 makes V8 collect once the old generation is 25 % above what the last
// major GC left: the RSS stays within that band of the live heap. Measured at 2,000 boxes,
// mosquitto, 10 rounds (docs/controller.md, Memory): RSS 146 → 158 MiB, 154–162 over rounds
// 1–9 (V8's default: 145 → 228 MiB, climbing ~10 MiB a round until a major GC), for about one
// major GC per round (30–40 ms of marking at 2k).
// The young generation's size (--max-semi-space-size, which would keep more of a round's
// transients young) can only be set when the process starts, so it is not set here.
import v8 from 'node:v8';

export const CONTROLLER_HEAP_GROWING_PERCENT = 25;

/**
 * The environment the controller is started with (docs/controller.md, Running it): glibc's
 * per-thread malloc arenas (SQLite's and libuv's pool threads) otherwise keep what a round freed,
 * and the memory outside the JS heap grows round after round (measured at 2,000 boxes: 149 → 149
 * MiB over 10 rounds with it). glibc reads it only at process start, so it cannot be set from here.
 */
export const CONTROLLER_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * Sets the heap growing policy unless the process was started with its own
 * (`node --heap-growing-percent=N`, or in NODE_OPTIONS; 0 is V8's default policy).
 */
export function applyControllerHeapPolicy(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent\b/.test(a));
  if (given) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${CONTROLLER_HEAP_GROWING_PERCENT}`);
  return true;
}
