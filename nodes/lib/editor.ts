// What the editor shows beside the flow: the last Traceflow graph and the last flow map of a
// node (SVG, served to the editor's "Seine" sidebar), and a manifest check for the policy
// node's edit dialog that runs the shared schemas. Admin routes are registered once per runtime.
import { parseManifests, ManifestError } from '../../src/api/manifest.js';
import { errorMessage } from '../../src/lib/errors.js';
import type { NodeAPI } from './red.js';

export interface EditorView {
  kind: 'traceflow' | 'flow-map';
  svg: string;
  /** ms since the epoch */
  at: number;
  summary: string;
}

const views = new Map<string, EditorView>();

export function setView(nodeId: string, view: Omit<EditorView, 'at'>): void {
  views.set(nodeId, { ...view, at: Date.now() });
}

export function getView(nodeId: string): EditorView | undefined {
  return views.get(nodeId);
}

export function dropView(nodeId: string): void {
  views.delete(nodeId);
}

const registered = new WeakSet<object>();

export function registerAdminRoutes(RED: NodeAPI): void {
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  // GET /seine/views/<node id>: {kind, summary, at, svg} or 404 before the node's first run.
  RED.httpAdmin.get('/seine/views/:id', RED.auth.needsPermission('seine.read'), (req, res) => {
    const v = views.get(req.params.id!);
    if (!v) return void res.status(404).json({ message: 'no result yet: run the node first' });
    res.json(v);
  });
  // POST /seine/validate {text}: problems with field paths, as seinectl validate prints them.
  RED.httpAdmin.post('/seine/validate', RED.auth.needsPermission('seine.read'), (req, res) => {
    const text = typeof (req.body as { text?: unknown } | undefined)?.text === 'string' ? (req.body as { text: string }).text : '';
    if (!text.trim()) return void res.json({ ok: true, objects: [] });
    try {
      const objects = parseManifests(text, 'policy');
      res.json({ ok: true, objects: objects.map((o) => `${o.kind} ${(o.metadata as { namespace?: string }).namespace ? `${(o.metadata as { namespace?: string }).namespace}/` : ''}${o.metadata.name}`) });
    } catch (err) {
      res.json({ ok: false, problems: err instanceof ManifestError ? err.message.split('\n') : [errorMessage(err)] });
    }
  });
}
