// A listen address (`host:port`, `[v6]:port`) split for net.Server.listen(); the broker, the
// controller's REST server and the agent's local API all take their address in this form.
export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
