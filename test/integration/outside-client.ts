// Asking the lab's outside server who we are: one TCP connection or UDP datagram from a network
// namespace (a pod, a box) to the outside host; the answer is the source address it saw.
import type { OutsideState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';

const CLIENT_PY = String.raw`
import socket, sys
proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if proto == 'tcp':
        s = socket.create_connection((host, port), timeout=timeout)
        print(s.makefile().readline().strip())
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
        s.sendto(b'who', (host, port)); print(s.recv(64).decode().strip())
except OSError as e:
    print('error', type(e).__name__)
`;

/** The source address the outside server saw for one connection from `netns`, or `error …`. */
export async function seenFromOutside(netns: string, outside: Pick<OutsideState, 'ip' | 'port'>, proto: 'tcp' | 'udp' = 'tcp', timeoutS = 2): Promise<string> {
  const r = await run('ip', ['netns', 'exec', netns, '/usr/bin/python3', '-c', CLIENT_PY, proto, outside.ip, String(outside.port), String(timeoutS)], { allowFailure: true });
  return r.stdout.trim() || `error ${r.stderr.trim()}`;
}
