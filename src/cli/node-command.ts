// seinectl node add|disable, and delete node: join tokens for new boxes and revocation.
import { Command, Option } from 'commander';
import type { JoinTokenResponse, NodeRemoval } from '../api/enrollment.js';
import { parseDuration } from '../api/enrollment.js';
import type { RestClient } from '../controller/client/rest-client.js';
import { UserError } from '../lib/errors.js';

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

export function nodeCommand(client: () => RestClient): Command {
  const node = new Command('node').description('register boxes (join tokens) and disable them');
  node
    .command('add <name>')
    .description('register a node and print a one-time join token, the CA fingerprint and a seine-node.yaml for the box')
    .option('--ttl <duration>', 'how long the token is valid: 90m, 24h, 7d', '24h')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (name: string, opts: { ttl: string; output: 'text' | 'json' }) => {
      const ttlSeconds = parseDuration(opts.ttl);
      if (ttlSeconds === undefined) throw new UserError(`--ttl: expected a duration like 90m, 24h or 7d, got "${opts.ttl}"`);
      const r = await client().request<JoinTokenResponse>('POST', `${nodePath(name)}/join-token`, JSON.stringify({ ttlSeconds }), { 'content-type': 'application/json' });
      if (opts.output === 'json') return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stdout.write([
        `node/${r.node} registered`,
        `join token:     ${r.token}   (one use, expires ${r.expiresAt})`,
        `CA fingerprint: ${r.caFingerprint}`,
        '',
        '# seine-node.yaml (boot partition of the box):',
        r.nodeFile.trimEnd(),
        '',
      ].join('\n'));
    });
  node
    .command('disable <name>')
    .description('revoke the node\'s certificates and drop its session; it stays listed as disabled (seinectl node add enables it with a new token)')
    .action(async (name: string) => printRemoval(await client().request<NodeRemoval>('POST', `${nodePath(name)}/disable`, '{}', { 'content-type': 'application/json' })));
  return node;
}

/** `seinectl delete node NAME`. */
export async function deleteNode(client: RestClient, name: string): Promise<void> {
  printRemoval(await client.request<NodeRemoval>('DELETE', nodePath(name)));
}

function printRemoval(r: NodeRemoval): void {
  process.stdout.write(`node/${r.node} ${r.action} (${r.revokedSerials.length} certificate(s) revoked${r.sessionDropped ? ', session dropped' : ''})\n`);
}
