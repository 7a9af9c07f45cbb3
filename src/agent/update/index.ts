// Wiring of the updater around the agent's life (used by `seine agent`): what the launcher did
// with a pending switch is reported before the agent starts, health is confirmed after it
// started, then the desired document's release target is followed. A restart is: report
// flushed, agent stopped, exit RESTART_EXIT_CODE (the launcher — src/launcher/launcher.ts, under
// systemd or the lab — switches `current` when asked and starts it again).
import path from 'node:path';
import type { AgentConfig } from '../../api/config.js';
import { hostReleaseArch } from '../../api/release.js';
import { UserError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { sleep } from '../../lib/process.js';
import type { Agent } from '../agent.js';
import { AGENT_VERSION } from '../sync/index.js';
import { exists, RESTART_EXIT_CODE, Updater } from './updater.js';

export { RESTART_EXIT_CODE } from './updater.js';

/** Set by the launcher in its agent's environment (src/launcher/launcher.ts; not imported: it stands alone). */
export const LAUNCHER_ENV = 'SEINE_LAUNCHER';
/** Set by the launcher while the agent is on trial: when (epoch ms) it stops an unconfirmed agent. */
export const TRIAL_DEADLINE_ENV = 'SEINE_TRIAL_DEADLINE';

const log = createLogger('agent.update');

/** Starts the agent with `start` under the updater when it is enabled; returns the agent and a stop for the updater. */
export async function startWithUpdates(cfg: AgentConfig, start: () => Promise<Agent>): Promise<{ agent: Agent; stopUpdates: () => void }> {
  const u = cfg.update;
  const enabled = u.enable ?? (await exists(path.join(u.root, 'current')));
  if (!enabled) return { agent: await start(), stopUpdates: () => {} };
  const arch = u.arch ?? hostReleaseArch();
  if (!arch) throw new UserError(`update.arch: this machine's architecture ${process.arch} is not a release architecture; set it`);
  let agent: Agent | undefined;
  const restart = async () => {
    // The report saying why goes out first (bounded: a broker outage must not keep the old version running).
    await Promise.race([agent?.sync?.flushed(), sleep(3000)]);
    await agent?.stop().catch((err) => log.error({ err }, 'stop before restart failed'));
    log.info({ code: RESTART_EXIT_CODE }, 'exiting for a restart');
    process.exit(RESTART_EXIT_CODE);
  };
  // The controller's CA for its HTTPS downloads, unless the update section names its own.
  const creds = cfg.controller?.credentials;
  const caFile = u.caFile ?? cfg.controller?.caFile ?? (creds && 'caFile' in creds ? creds.caFile : undefined);
  // A box with a node certificate (enrolled, or given one) downloads with it from the node-scoped endpoint.
  const withCertificate = !!cfg.controller?.enrollment || (!!creds && 'certFile' in creds);
  const updater = new Updater({
    cfg: { ...u, ...(caFile ? { caFile } : {}) }, running: AGENT_VERSION, arch, server: u.server ?? cfg.controller?.enrollment?.server ?? releaseServerOf(cfg.controller?.url),
    underLauncher: process.env[LAUNCHER_ENV] !== undefined, trialDeadline: epochMs(process.env[TRIAL_DEADLINE_ENV]), restart,
    ...(withCertificate ? { nodeTls: () => agent?.sync?.tls } : {}),
  });
  if ((await updater.beforeStart()) === 'restart') {
    log.info({ code: RESTART_EXIT_CODE }, 'exiting for a restart into the previous version');
    process.exit(RESTART_EXIT_CODE);
  }
  agent = await start();
  const sync = agent.sync;
  const health = () => (!sync || sync.connected ? undefined : 'the controller broker is not reached');
  void updater
    .afterStart((s) => sync?.reportUpdate(s) ?? Promise.resolve(), health)
    .then(async (r) => {
      if (r === 'restart') return restart();
      if (!sync) return;
      sync.onDesired((d) => updater.onTarget(d.release));
      updater.onTarget(sync.desiredDocument?.release);
    })
    .catch((err) => log.error({ err }, 'updater failed'));
  return { agent, stopUpdates: () => updater.stop() };
}

function epochMs(v: string | undefined): number | undefined {
  const n = Number(v);
  return v && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** The controller's REST on the MQTT host: mqtt://h → http://h:8080 (insecure), mqtts://h → https://h:8443. */
export function releaseServerOf(brokerUrl: string | undefined): string | undefined {
  const m = brokerUrl && /^(mqtts?|wss?):\/\/([^/:]+|\[[^\]]+\])/.exec(brokerUrl);
  if (!m) return undefined;
  return m[1] === 'mqtts' || m[1] === 'wss' ? `https://${m[2]}:8443` : `http://${m[2]}:8080`;
}
