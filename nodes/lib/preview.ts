// The policy node's "Preview impact" button: the editor posts the Policy text and the node's
// controller (a deployed seine-controller config node) here; the manifests are checked with the
// shared schemas and sent to the controller's impact preview (POST /api/v1/impact). Nothing is
// applied. Answers: the controller's ImpactPreview, or {message} with 400/422/502.
import type { ImpactResult } from '../../src/api/impact.js';
import { ManifestError, parseManifests } from '../../src/api/manifest.js';
import { errorMessage } from '../../src/lib/errors.js';
import { connectionOf } from './controller-ref.js';
import type { NodeAPI } from './red.js';

const registered = new WeakSet<object>();
const DURATION = /^[1-9]\d{0,5}[smhd]$/;

export function registerPreviewRoute(RED: NodeAPI): void {
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  RED.httpAdmin.post('/seine/preview', RED.auth.needsPermission('seine.read'), (req, res) => {
    const body = (req.body ?? {}) as { controller?: unknown; text?: unknown; since?: unknown };
    const since = typeof body.since === 'string' && body.since ? body.since : '24h';
    if (!DURATION.test(since)) return void res.status(400).json({ message: `since: expected a duration like 30m, 24h or 7d, got ${JSON.stringify(since)}` });
    const conn = connectionOf(RED, body.controller);
    if (conn instanceof Error) return void res.status(400).json({ message: `${conn.message} (a new controller node must be deployed first)` });
    const text = typeof body.text === 'string' ? body.text : '';
    if (!text.trim()) return void res.status(400).json({ message: 'policy: empty (a preview needs the manifests in the Policy field)' });
    let items;
    try {
      items = parseManifests(text, 'policy');
    } catch (err) {
      return void res.status(422).json({ message: err instanceof ManifestError ? err.message : errorMessage(err) });
    }
    conn.request<ImpactResult>('POST', '/api/v1/impact', JSON.stringify({ items, since }))
      .then((r) => res.json(r), (err) => res.status(502).json({ message: errorMessage(err) }));
  });
}
