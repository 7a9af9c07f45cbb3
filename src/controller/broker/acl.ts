// Who may publish and subscribe where. The controller may use every node's topics; a node only
// its own subtree, and there only the direction it owns: it publishes status, reported, flows,
// events and rpc responses, and subscribes to desired and rpc. Pure, so the embedded broker's
// hooks and the generated mosquitto ACL file are tested against the same rules.
import { CONTROLLER_USERNAME, NODE_PUBLISH_CHANNELS, NODE_SUBSCRIBE_CHANNELS, TOPIC_ROOT, parseNodeTopic, type NodeChannel } from '../../api/mqtt.js';
import { isDNS1123Subdomain } from '../../api/meta.js';

export function mayPublish(username: string | undefined, topic: string): boolean {
  if (username === CONTROLLER_USERNAME) return topic.startsWith(`${TOPIC_ROOT}/`);
  const own = ownChannel(username, topic);
  return own !== undefined && NODE_PUBLISH_CHANNELS.includes(own);
}

/** A node's filter must name its own subtree; only an rpc request id may be `+`. */
export function maySubscribe(username: string | undefined, filter: string): boolean {
  if (username === CONTROLLER_USERNAME) return filter.startsWith(`${TOPIC_ROOT}/`);
  if (filter.includes('#')) return false; // a node never needs a multi-level wildcard
  const parts = filter.split('/');
  if (parts.slice(0, 5).some((p) => p.includes('+'))) return false;
  if (parts[5] !== undefined && parts[5] !== '+' && parts[5].includes('+')) return false;
  const own = ownChannel(username, parts.map((p) => (p === '+' ? 'x' : p)).join('/'));
  return own !== undefined && NODE_SUBSCRIBE_CHANNELS.includes(own);
}

function ownChannel(username: string | undefined, topic: string): NodeChannel | undefined {
  if (username === undefined || !isDNS1123Subdomain(username)) return undefined;
  try {
    const t = parseNodeTopic(topic);
    return t.node === username ? t.channel : undefined;
  } catch {
    return undefined;
  }
}
