// Deleting or disabling a node: the registry forgets it (or marks it disabled), every
// certificate it was issued goes on the revocation list, its open MQTT session on the embedded
// broker is closed at once (its last will suppressed), and its retained topics are cleared. The
// registry's `removed` change takes it out of policy spans, Egress assignments and rollouts.
import type { MqttClient } from 'mqtt';
import { nodeTopic } from '../../api/mqtt.js';
import type { NodeRemoval } from '../../api/enrollment.js';
import { createLogger } from '../../lib/log.js';
import type { EmbeddedBroker } from '../broker/embedded.js';
import type { NodeRegistry } from '../store/nodes.js';
import type { NodeTrust } from '../store/node-trust.js';

const log = createLogger('controller.revocation');

export interface RevocationContext {
  nodes: NodeRegistry;
  trust: NodeTrust;
  /** The controller's own MQTT client (it may publish on every node's topics). */
  client: MqttClient;
  /** The embedded broker; with an external broker sessions cannot be closed from here. */
  broker?: EmbeddedBroker | undefined;
  /** Republishes desired state (the node leaves every span). */
  republish: () => void;
}

/** Retained per-node topics: presence, the controller's desired document, the node's report. */
const RETAINED = ['status', 'desired', 'reported'] as const;

export class NodeRevocation {
  constructor(private readonly ctx: RevocationContext) {}

  /** undefined when no such node is registered. */
  async remove(node: string, actor: string, opts: { disable: boolean }): Promise<NodeRemoval | undefined> {
    log.info({ node, actor, action: opts.disable ? 'disable' : 'delete' }, 'revoking node');
    // Registry first: from here on the node's password and reports are refused.
    const found = await this.ctx.nodes.remove(node, actor, opts);
    if (!found) return undefined;
    const revokedSerials = await this.ctx.trust.revokeNode(node);
    const sessionDropped = this.ctx.broker?.disconnectNode(node) ?? false;
    if (!this.ctx.broker) log.warn({ node }, 'external broker: its session is not closed from here; the broker must refuse its certificate (CRL) or password');
    for (const channel of RETAINED) {
      // An empty retained message deletes the retained one.
      await this.ctx.client.publishAsync(nodeTopic(node, channel), '', { qos: 1, retain: true }).catch((err: Error) => log.warn({ node, channel, err: err.message }, 'clearing a retained topic failed'));
    }
    this.ctx.republish();
    log.warn({ node, actor, action: opts.disable ? 'disabled' : 'deleted', revoked: revokedSerials.length, sessionDropped }, 'node revoked');
    return { node, action: opts.disable ? 'disabled' : 'deleted', revokedSerials, sessionDropped };
  }
}
