// MQTT.js opens its TCP (and TLS) sockets with Nagle's algorithm on, and writes a packet in
// pieces; with the peer's delayed ACK every message then waits ~40 ms. Turning Nagle off on
// each new stream (the first one, and every reconnect's) takes that away.
import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';

export function disableNagle(client: MqttClient): void {
  const set = () => (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true);
  set();
  client.on('connect', set);
}
