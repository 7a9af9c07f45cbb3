// systemd readiness and watchdog (Type=notify, WatchdogSec=). Node has no unix datagram sockets,
// so messages go through `systemd-notify`, which waits until systemd has read them (so systemd
// can still find its cgroup: the unit needs NotifyAccess=all). Without NOTIFY_SOCKET (the lab,
// tests, a shell) every call is a no-op.
import { run } from './exec.js';
import { createLogger } from './log.js';

const log = createLogger('sd-notify');

export interface SdNotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

/** Half the watchdog period (systemd's advice), or undefined when no watchdog is asked of this process. */
export function watchdogIntervalMs(env: SdNotifyEnv = process.env, pid = process.pid): number | undefined {
  if (!env.NOTIFY_SOCKET || !env.WATCHDOG_USEC) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export class SdNotifier {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly env: SdNotifyEnv = process.env, private readonly command = 'systemd-notify') {}

  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  /** Sends `KEY=value` assignments (READY=1, STOPPING=1, STATUS=…); failures are logged, never thrown. */
  async notify(...assignments: string[]): Promise<void> {
    if (!this.enabled) return;
    try {
      await run(this.command, assignments, { env: { ...process.env, NOTIFY_SOCKET: this.env.NOTIFY_SOCKET }, timeoutMs: 10_000 });
    } catch (err) {
      log.warn({ err, assignments }, 'systemd notification not sent');
    }
  }

  /** READY=1, then WATCHDOG=1 every half period while the event loop runs. */
  async ready(status: string): Promise<void> {
    await this.notify('READY=1', `STATUS=${status}`);
    const every = watchdogIntervalMs(this.env);
    if (every === undefined) return;
    this.timer = setInterval(() => void this.notify('WATCHDOG=1'), every);
    this.timer.unref();
  }

  async stopping(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.notify('STOPPING=1');
  }
}
