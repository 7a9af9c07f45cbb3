// seine-controller: the config node every Seine node points at. The URL is a plain property
// (it may be ${SEINE_CONTROLLER_URL}); the token and the CA are credentials, stored encrypted by
// Node-RED and never part of an exported flow. One connection, shared by every node using it.
import { ControllerConnection, urlProblem } from './lib/connection.js';
import type { ControllerNode } from './lib/controller-ref.js';
import { registerAdminRoutes } from './lib/editor.js';
import type { NodeAPI, NodeDef } from './lib/red.js';

interface ControllerDef extends NodeDef {
  url?: string;
  timeout?: string | number;
}

function register(RED: NodeAPI): void {
  registerAdminRoutes(RED);
  function SeineController(this: ControllerNode, def: ControllerDef): void {
    RED.nodes.createNode(this, def);
    const problem = urlProblem(def.url);
    const timeoutS = Number(def.timeout || 10);
    if (problem) {
      this.problem = problem;
      this.error(`seine-controller: ${problem}`);
    } else if (!(timeoutS > 0 && timeoutS <= 300)) {
      this.problem = `timeout: expected 1-300 seconds, got ${JSON.stringify(def.timeout)}`;
      this.error(`seine-controller: ${this.problem}`);
    } else {
      this.connection = new ControllerConnection({ url: def.url!, token: this.credentials.token, ca: this.credentials.ca, timeoutMs: timeoutS * 1000 });
      this.connection.on('state', (state: string, error?: string) => {
        if (state === 'unreachable') this.warn(`controller ${def.url} unreachable: ${error ?? ''}`);
        else this.log(`controller ${def.url} ${state}`);
      });
    }
    this.on('close', (_removed, done) => {
      this.connection?.close();
      done();
    });
  }
  RED.nodes.registerType('seine-controller', SeineController as never, { credentials: { token: { type: 'password' }, ca: { type: 'text' } } });
}

export { register as 'module.exports' };
export default register;
