#!/usr/bin/env node
// seine-cni: the binary containerd runs for every pod network ADD/DEL/CHECK. It answers VERSION
// itself and forwards everything else, as one JSON line {env, config}, to the agent's CNI server
// over a unix socket, then prints the agent's result or error.
// It is on the pod start path, so it starts as fast as node can (measured here: ESM loading
// costs ~15 ms over CommonJS, stdin/stdout streams ~10 ms over plain fd reads and writes):
// - CommonJS: src/cni/package.json says so; importing it makes tsc copy it next to the output,
//   where node reads the same "type" for dist/cni/main.js;
// - node built-ins only (no zod, no pino); the few constants it needs are copies of
//   src/api/cni.ts, kept in sync by test/unit/cni/binary.test.ts;
// - stdin and stdout through file descriptors, not streams.
import { createConnection } from 'node:net';
import { readFileSync, writeSync } from 'node:fs';
import './package.json';

const specVersion = '1.0.0';
const supportedVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];
const defaultAgentSocket = '/var/run/seine/cni.sock';
const commands = ['ADD', 'DEL', 'CHECK', 'VERSION'];
/** skel's rules: which CNI_* variables each command needs. */
const requiredEnv: Record<string, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
};
const forwardedEnv = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'];
/** containerd gives up on a pod sandbox after minutes; do not hang forever on a stuck agent. */
const agentTimeoutMs = 110_000;

const enum Code {
  InvalidEnvironment = 4,
  IoFailure = 5,
  DecodingFailure = 6,
  TryAgainLater = 11,
}

class PluginError extends Error {
  constructor(readonly code: number, msg: string, readonly details?: string) {
    super(msg);
  }
}

let errorVersion = specVersion;

async function main(): Promise<void> {
  const env = process.env;
  const command = env.CNI_COMMAND;
  if (!command) throw new PluginError(Code.InvalidEnvironment, 'CNI_COMMAND is not set');
  if (!commands.includes(command)) {
    throw new PluginError(Code.InvalidEnvironment, `CNI_COMMAND="${command}" is not one of ${commands.join(', ')}`);
  }
  if (command === 'VERSION') {
    print({ cniVersion: specVersion, supportedVersions });
    return;
  }
  const missing = requiredEnv[command].filter((name) => !env[name]);
  if (missing.length) throw new PluginError(Code.InvalidEnvironment, `required environment variable(s) not set: ${missing.join(', ')}`);

  const config = decodeConfig(await readStdin());
  if (typeof config.cniVersion === 'string' && supportedVersions.includes(config.cniVersion)) errorVersion = config.cniVersion;
  const socketPath = typeof config.agentSocket === 'string' && config.agentSocket ? config.agentSocket : defaultAgentSocket;

  const request: Record<string, string> = {};
  for (const name of forwardedEnv) if (env[name] !== undefined) request[name] = env[name] as string;
  const response = await askAgent(socketPath, JSON.stringify({ env: request, config }) + '\n');
  if ('error' in response) {
    print(response.error);
    process.exitCode = 1;
  } else if (response.result) {
    print(response.result);
  }
}

async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    // A non-blocking stdin (some runtimes) cannot be read synchronously: fall back to the stream.
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw new PluginError(Code.IoFailure, 'failed to read the network configuration from stdin', String(err));
  }
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw new PluginError(Code.IoFailure, 'failed to read the network configuration from stdin', String(err));
  }
}

function decodeConfig(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PluginError(Code.DecodingFailure, 'failed to decode the network configuration on stdin as JSON', (err as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PluginError(Code.DecodingFailure, 'failed to decode the network configuration on stdin: expected a JSON object');
  }
  return value as Record<string, unknown>;
}

type AgentResponse = { result: unknown } | { error: Record<string, unknown> };

function askAgent(socketPath: string, line: string): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new PluginError(Code.TryAgainLater, `the Seine agent did not answer within ${agentTimeoutMs / 1000} s; try again later`, `socket ${socketPath}`))),
      agentTimeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(line));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) finish(() => parseResponse(buffer.slice(0, nl), resolve, reject));
    });
    socket.on('end', () =>
      finish(() => (buffer ? parseResponse(buffer, resolve, reject) : reject(new PluginError(Code.TryAgainLater, 'the Seine agent closed the connection without an answer; try again later', `socket ${socketPath}`)))),
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          new PluginError(
            Code.TryAgainLater,
            `the Seine agent is not reachable (${err.code ?? err.message}); try again later`,
            `socket ${socketPath}: ${err.message}`,
          ),
        ),
      ),
    );
  });
}

function parseResponse(text: string, resolve: (r: AgentResponse) => void, reject: (e: Error) => void): void {
  try {
    const value = JSON.parse(text) as AgentResponse;
    if (value && typeof value === 'object' && ('result' in value || ('error' in value && typeof value.error === 'object'))) return resolve(value);
  } catch {
    /* reported below */
  }
  reject(new PluginError(Code.DecodingFailure, "failed to decode the Seine agent's response", text.slice(0, 200)));
}

function print(value: unknown): void {
  const text = JSON.stringify(value) + '\n';
  try {
    writeSync(1, text);
  } catch {
    process.stdout.write(text); // non-blocking stdout that is full: let the stream queue it
  }
}

main().catch((err: unknown) => {
  const e = err instanceof PluginError ? err : new PluginError(Code.IoFailure, String((err as Error)?.message ?? err));
  const out: Record<string, unknown> = { cniVersion: errorVersion, code: e.code, msg: e.message };
  if (e.details) out.details = e.details;
  print(out);
  process.exitCode = 1;
});
