// mqtt.connect, plus mqtts+unix:///path: TLS over a unix socket. The lab's agents reach the
// broker through a socket file (their network namespace cannot reach the host's 127.0.0.1) and
// that path is TLS like every other; mqtt.js drops the socket path for TLS, so the stream is
// built here. There is no host name on a socket: the server certificate is checked as
// "localhost", which every certificate the controller makes for itself carries.
import tls from 'node:tls';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';

const TLS_UNIX = /^mqtts\+unix:\/\/(\/\S+)$/;

export function connectMqtt(url: string, opts: IClientOptions): MqttClient {
  const m = TLS_UNIX.exec(url);
  if (!m) return mqtt.connect(url, opts);
  const socketPath = m[1]!;
  const build = () => tls.connect({
    path: socketPath, servername: 'localhost', host: 'localhost',
    ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.cert ? { cert: opts.cert } : {}), ...(opts.key ? { key: opts.key } : {}),
    rejectUnauthorized: opts.rejectUnauthorized !== false,
  });
  return new MqttClient(build, { protocol: 'mqtts', ...opts });
}
