// Failed MQTT logins, counted per source address and per node name in a sliding window. Checked
// before any password is hashed: past the limit a login is refused at once, so a flood of wrong
// passwords costs the controller no scrypt work, and guessing one node's password from many
// addresses is slowed as much as guessing from one. Memory is bounded (oldest keys go first).
import type { ControllerConfig } from '../../api/config.js';

export type LoginLimits = ControllerConfig['loginFailureLimits'];

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perSource: 20, perNode: 10, windowSeconds: 60 };

/** Keys tracked at most (source addresses and node names together). */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  /** key → failure times (ms), oldest first. */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS, private readonly now: () => number = Date.now) {}

  /** Why a login from `source` as `user` is refused before checking it, or undefined to go on. */
  blocked(source: string, user: string | undefined): string | undefined {
    if (this.recent(`src:${source}`) >= this.limits.perSource) return `${this.limits.perSource} failed logins from ${source} in ${this.limits.windowSeconds} s`;
    if (user !== undefined && this.recent(`user:${user}`) >= this.limits.perNode) return `${this.limits.perNode} failed logins as ${user} in ${this.limits.windowSeconds} s`;
    return undefined;
  }

  failed(source: string, user: string | undefined): void {
    this.note(`src:${source}`);
    if (user !== undefined) this.note(`user:${user}`);
  }

  private recent(key: string): number {
    const times = this.failures.get(key);
    if (!times) return 0;
    const since = this.now() - this.limits.windowSeconds * 1000;
    while (times.length && times[0]! <= since) times.shift();
    if (!times.length) this.failures.delete(key);
    return times.length;
  }

  private note(key: string): void {
    const times = this.failures.get(key) ?? [];
    this.recent(key);
    times.push(this.now());
    // Only as many times as the limit needs; re-inserted so the map's order is least recently failed first.
    if (times.length > Math.max(this.limits.perSource, this.limits.perNode)) times.shift();
    this.failures.delete(key);
    this.failures.set(key, times);
    if (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }
}
