// How the agent's Node process runs on a small box: the systemd unit (rootfs/), the launcher
// (src/launcher, which cannot import this file and keeps an equal copy: a unit test compares
// them) and the lab's agents (src/lab/agent-process.ts), so the lab measures what a box runs.
// Measured on a lab box with 10 pods and 100 policies (docs/agent.md, Footprint):
//   --max-semi-space-size=1  V8 grows the young generation up to 3 × 16 MiB while the agent
//                            computes 100 policies at start, and keeps it: steady RSS 145 → 97 MiB
//   --optimize-for-size      smaller code and object layouts: about −8 MiB, no steady CPU seen
//   MALLOC_ARENA_MAX=2       glibc's per-thread malloc arenas (libuv's pool, V8's workers) keep
//                            freed memory each: about −3 MiB
// Not used: --lite-mode and --jitless (they turn WebAssembly off, and Node's fetch/undici needs
// it: the agent dies on its first fetch), --max-old-space-size (a cap is a crash, not a saving).
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];
export const AGENT_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
