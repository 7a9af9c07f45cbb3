// A controller takes a whole fleet's reports over one connection, and MQTT.js answers each
// QoS 1 message with its own PUBACK, handled a tick apart: mqtt-packet corks a packet only until
// the next tick, so every PUBACK was a write(2) of its own (10k boxes reporting: 10k syscalls,
// the controller's largest single cost in the sync-fleet profile). Corking the socket from the
// first packet of a read until the event loop's check phase (setImmediate, after every packet
// of that read was handled) sends those PUBACKs, and whatever else went out meanwhile, in one
// writev. Nothing waits longer than that loop turn.
import type { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';

export function coalesceWrites(client: MqttClient): void {
  let corked = false;
  client.on('packetreceive', () => {
    if (corked) return;
    // The stream of this moment: a reconnect makes a new one, and the old one is uncorked (or gone) all the same.
    const stream = client.stream as Partial<Writable> | undefined;
    if (!stream?.cork || !stream.uncork) return;
    stream.cork();
    corked = true;
    setImmediate(() => {
      corked = false;
      stream.uncork!();
    });
  });
}

/**
 * Holds what `client` writes from now until `release()` — then until the event loop's next check
 * phase, so what the caller started to send in the same turn goes in the same writev — or until
 * `maxMs` passed, whichever comes first. The agent holds the PUBACK of a desired document until
 * the document's report is written: one write(2) for both instead of one each (on loopback each
 * write also runs the broker's receive path in the writer's time, and wakes the broker twice).
 * Nothing is held longer than `maxMs`; release() is idempotent.
 */
export function holdWrites(client: MqttClient, maxMs: number): () => void {
  const stream = client.stream as Partial<Writable> | undefined;
  if (!stream?.cork || !stream.uncork) return () => {};
  stream.cork();
  let held = true;
  const uncork = () => {
    if (!held) return;
    held = false;
    clearTimeout(timer);
    stream.uncork!();
  };
  const timer = setTimeout(uncork, maxMs);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    setImmediate(uncork);
  };
}
