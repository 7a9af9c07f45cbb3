// Wiring for the controller: the release store (bundles under releasesDir, default `releases/`
// beside the SQLite store), the rollouts and their REST routes.
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { ControllerConfig } from '../../api/config.js';
import type { SqlDatabase } from '../../lib/sqlite.js';
import type { RecentEvents } from '../events.js';
import type { NodeRegistry } from '../store/nodes.js';
import { ReleaseStore } from './release-store.js';
import { releaseRoutes, type RawRoute } from './rest.js';
import { Rollouts } from './rollouts.js';

export async function startReleases(
  cfg: ControllerConfig, db: SqlDatabase, nodes: NodeRegistry, onTargetsChanged: () => void, events?: RecentEvents, nodeAuth?: (req: IncomingMessage) => Promise<string>,
): Promise<{ releases: ReleaseStore; rollouts: Rollouts; routes: RawRoute }> {
  const releases = await ReleaseStore.open(db, cfg.releasesDir ?? path.join(path.dirname(cfg.storePath), 'releases'));
  const rollouts = await Rollouts.open({ db, nodes, releases, onTargetsChanged, ...(events ? { events } : {}) });
  await rollouts.start();
  return { releases, rollouts, routes: releaseRoutes(releases, rollouts, cfg.auth, nodeAuth) };
}
