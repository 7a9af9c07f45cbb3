// node-red-node-test-helper ships no types: the part the Node-RED node tests use.
declare module 'node-red-node-test-helper' {
  interface TestNode {
    id: string;
    on(event: string, fn: (...args: any[]) => void): void;
    once(event: string, fn: (...args: any[]) => void): void;
    receive(msg: Record<string, unknown>): void;
    [key: string]: any;
  }
  const helper: {
    init(nodeRedRuntime: string, userSettings?: Record<string, unknown>): void;
    startServer(done?: (err?: unknown) => void): Promise<void> | void;
    stopServer(done?: (err?: unknown) => void): Promise<void> | void;
    load(nodes: unknown, flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
    clearFlows(): Promise<void>;
    request(): any;
    url(): string;
    log(): { args: any[] };
  };
  export default helper;
}
