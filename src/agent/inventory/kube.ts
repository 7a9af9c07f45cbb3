// The inventory on a k3s box: nodes, namespaces, pods, services and endpoint slices list-watched from the API server,
// one Reflector each, all feeding one InventoryStore.
import type { z } from 'zod';
import { EndpointSliceSchema, NamespaceSchema, NodeSchema, PodSchema, ServiceSchema } from '../../api/k8s-core.js';
import { createLogger } from '../../lib/log.js';
import type { BackoffOptions } from '../../lib/backoff.js';
import { endpointSliceView, namespaceView, nodeView, podView, serviceView } from './convert.js';
import { KubeClient } from './kube-client.js';
import type { KubeConnection } from './kubeconfig.js';
import { Reflector } from './reflector.js';
import { rawObjectKey } from './refusals.js';
import { INVENTORY_KINDS, type InventoryKind, type InventorySource } from '../../api/inventory.js';
import { InventorySourceBase } from './source-base.js';
import { podKey } from '../../api/inventory.js';

const log = createLogger('inventory');

export interface KubeInventoryOptions {
  connection: KubeConnection;
  /**
   * Restricts the pod watch, e.g. `spec.nodeName=box-1` for the box's own pods. Unset: all
   * pods in the cluster, which policy needs to resolve selectors to addresses.
   */
  podFieldSelector?: string;
  /** Default 300 (client-go's minimum); each watch asks for a random value up to twice it. */
  watchTimeoutSeconds?: number;
  /** LIST page size; default 500 as in client-go. */
  pageSize?: number;
  backoff?: BackoffOptions;
  requestTimeoutMs?: number;
}

export class KubeInventorySource extends InventorySourceBase implements InventorySource {
  private readonly listed = new Set<InventoryKind>();
  private abort: AbortController | undefined;
  private runs: Promise<void>[] = [];
  private client: KubeClient | undefined;
  private reflectors: Partial<Record<InventoryKind, Reflector<unknown>>> = {};

  constructor(private readonly options: KubeInventoryOptions) {
    super();
  }

  /** Merge-patches the Node's annotations; the watch then brings the change back into the view. */
  async annotateNode(node: string, annotations: Record<string, string>): Promise<void> {
    if (!this.client || !this.abort) throw new Error('annotateNode before start()');
    await this.client.mergePatch(`/api/v1/nodes/${encodeURIComponent(node)}`, { metadata: { annotations } }, this.abort.signal);
  }

  /** The resourceVersion the next watch of `kind` starts from (for diagnostics and tests). */
  resourceVersion(kind: InventoryKind): string | undefined {
    return this.reflectors[kind]?.resourceVersion;
  }

  start(): Promise<void> {
    if (this.abort) throw new Error('a KubeInventorySource starts once; make a new one to start again');
    const abort = (this.abort = new AbortController());
    const client = (this.client = new KubeClient(this.options.connection));
    const started = this.startPromise();
    log.info({ server: this.options.connection.server.origin, origin: this.options.connection.origin, podFieldSelector: this.options.podFieldSelector }, 'watching the Kubernetes API');

    const reflect = <T>(kind: InventoryKind, path: string, schema: z.ZodType<T>, handlers: { put(o: T): void; remove(o: T): void; replace(o: T[], keep: string[]): void }, fieldSelector?: string) => {
      const keysOf = (raws: unknown[]) => raws.flatMap((raw) => rawObjectKey(kind, raw) ?? []);
      const reflector = new Reflector<T>(
        client,
        {
          path,
          schema,
          ...(fieldSelector ? { fieldSelector } : {}),
          watchTimeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
          pageSize: this.options.pageSize ?? 500,
          ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
          log: log.child({ kind }),
        },
        {
          replace: (items, refused) => {
            handlers.replace(items, keysOf(refused));
            this.markListed(kind);
          },
          upsert: (item) => handlers.put(item),
          remove: (item) => handlers.remove(item),
          // A refused update keeps the last good view; a refused deletion still deletes (by key).
          refused: (raw, problem, deleted) => {
            const key = rawObjectKey(kind, raw);
            if (deleted && key !== undefined) this.store.remove(kind, key);
            else this.refusals.note(kind, key, problem, path);
          },
        },
      );
      this.reflectors[kind] = reflector as Reflector<unknown>;
      this.runs.push(reflector.run(abort.signal));
    };

    // Nodes first, then namespaces, Services and slices, then pods: consumers meet a pod's node and
    // namespace before the pod, and the pod watch (the busiest) starts last.
    reflect('Node', '/api/v1/nodes', NodeSchema, {
      put: (o) => this.store.put('Node', nodeView(o)),
      remove: (o) => this.store.remove('Node', o.metadata.name),
      replace: (o, keep) => this.store.replace('Node', o.map(nodeView), keep),
    });
    reflect('Namespace', '/api/v1/namespaces', NamespaceSchema, {
      put: (o) => this.store.put('Namespace', namespaceView(o)),
      remove: (o) => this.store.remove('Namespace', o.metadata.name),
      replace: (o, keep) => this.store.replace('Namespace', o.map(namespaceView), keep),
    });
    // Services and their EndpointSlices (Service load balancing in OVS replaces kube-proxy).
    reflect('Service', '/api/v1/services', ServiceSchema, {
      put: (o) => this.store.put('Service', serviceView(o)),
      remove: (o) => this.store.remove('Service', podKey(o.metadata)),
      replace: (o, keep) => this.store.replace('Service', o.map(serviceView), keep),
    });
    reflect('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', EndpointSliceSchema, {
      put: (o) => this.store.put('EndpointSlice', endpointSliceView(o)),
      remove: (o) => this.store.remove('EndpointSlice', podKey(o.metadata)),
      replace: (o, keep) => this.store.replace('EndpointSlice', o.map(endpointSliceView), keep),
    });
    reflect(
      'Pod',
      '/api/v1/pods',
      PodSchema,
      {
        put: (o) => this.store.put('Pod', podView(o)),
        remove: (o) => this.store.remove('Pod', podKey(o.metadata)),
        replace: (o, keep) => this.store.replace('Pod', o.map(podView), keep),
      },
      this.options.podFieldSelector,
    );
    return started;
  }

  async stop(): Promise<void> {
    if (!this.abort) return;
    this.abort.abort();
    await Promise.all(this.runs);
    this.client?.close();
    this.abortStart('inventory source stopped before its first sync');
  }

  private markListed(kind: InventoryKind): void {
    this.listed.add(kind);
    if (this.listed.size === INVENTORY_KINDS.length) this.markSynced();
  }
}
