// Wiring for the controller: the release store (bundles under releasesDir, default `releases/`
// beside the SQLite store; uploads checked against the releaseKeys), the rollouts and their
// REST routes.
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { ControllerConfig } from '../../api/config.js';
import { UserError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { SqlDatabase } from '../../lib/sqlite.js';
import { readPublicKeyFiles } from '../../release/verify.js';
import type { RecentEvents } from '../events.js';
import type { NodeRegistry } from '../store/nodes.js';
import { ReleaseStore } from './release-store.js';
import { releaseRoutes, type RawRoute } from './rest.js';
import { Rollouts } from './rollouts.js';

const log = createLogger('controller.releases');

/** `nodeAuth`: who a request's client certificate names, for the node-scoped downloads (trust/routes.ts). */
export async function startReleases(
  cfg: ControllerConfig, db: SqlDatabase, nodes: NodeRegistry, onTargetsChanged: () => void, events?: RecentEvents, nodeAuth?: (req: IncomingMessage) => Promise<string>,
): Promise<{ releases: ReleaseStore; rollouts: Rollouts; routes: RawRoute }> {
  const keys = await readPublicKeyFiles(cfg.releaseKeys).catch((err: Error) => {
    throw new UserError(`releaseKeys: ${err.message}`);
  });
  if (!keys.length) log.warn('no releaseKeys configured: release uploads are refused (set releaseKeys to the release.pub the boxes trust)');
  const releases = await ReleaseStore.open(db, cfg.releasesDir ?? path.join(path.dirname(cfg.storePath), 'releases'), keys);
  const rollouts = await Rollouts.open({ db, nodes, releases, onTargetsChanged, ...(events ? { events } : {}) });
  await rollouts.start();
  return { releases, rollouts, routes: releaseRoutes(releases, rollouts, cfg.auth, cfg.releaseUploadMaxBytes, nodeAuth) };
}
