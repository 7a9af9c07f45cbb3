// `seine lab outside …`: the lab's outside host (src/lab/outside.ts). `connections` lists the
// source addresses its server saw, `exec` runs a command there (a client reaching a NodePort),
// `dns` lists or changes the names its DNS server answers (src/lab/outside-dns.ts), `serve` is
// the server itself (the lab starts it in the outside namespace).
import { Command, InvalidArgumentError } from 'commander';
import { UserError } from '../lib/errors.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export interface OutsideCommandDeps {
  requireRoot(): void;
  runIn(netns: string, argv: string[]): Promise<number>;
}

const port = (text: string): number => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port from 1 to 65535');
  return n;
};

async function outsideOfLab() {
  const lab = new (await import('../lab/lab.js')).Lab();
  const state = await lab.current();
  if (!state.outside) throw new UserError('this lab has no outside namespace (made by an older seine; recreate it)');
  return state.outside;
}

export function registerOutsideCommands(lab: Command, program: Command, deps: OutsideCommandDeps): void {
  const outside = lab.command('outside').description('the host outside the cluster: a server that records the source address of each connection');
  outside
    .command('connections', { isDefault: true })
    .description('the connections the outside server saw (source address as seen from outside)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const o = await outsideOfLab();
      const conns = await (await import('../lab/outside.js')).readOutsideConnections(o);
      if (opts.json) {
        out(JSON.stringify(conns, null, 2));
        return;
      }
      out(`outside ${o.ip} (${o.netns}), tcp+udp ${o.port}: ${conns.length} connection${conns.length === 1 ? '' : 's'}`);
      for (const c of conns) out(`${c.time}  ${c.proto}  ${c.src}:${c.sport} -> :${c.dport}`);
    });
  outside
    .command('exec')
    .description('run a command in the outside namespace; exits with its exit code')
    .argument('[command...]', 'after --, the command and its arguments')
    .allowUnknownOption()
    .usage('-- <command...>')
    .action(async (argv: string[]) => {
      const raw = (program as unknown as { rawArgs: string[] }).rawArgs ?? process.argv;
      if (!raw.includes('--') || argv.length === 0) throw new UserError('usage: seine lab outside exec -- <command...>');
      deps.requireRoot();
      process.exitCode = await deps.runIn((await outsideOfLab()).netns, argv);
    });
  outside
    .command('dns [name] [ip]')
    .description('the names the lab\'s DNS server (dnsmasq on the outside host) answers; NAME IP points a name at an address, NAME --delete removes it')
    .option('--delete', 'remove NAME')
    .action(async (name: string | undefined, ip: string | undefined, opts: { delete?: boolean }) => {
      const lab = new (await import('../lab/lab.js')).Lab();
      const state = await lab.current();
      const dns = state.outside?.dns;
      if (!dns) throw new UserError('this lab has no DNS server (dnsmasq was not installed when it came up: apt-get install dnsmasq-base, then recreate the lab)');
      const m = await import('../lab/outside-dns.js');
      let names: Record<string, string>;
      if (name === undefined) names = await m.readNames(dns.hostsFile);
      else {
        if (!opts.delete && ip === undefined) throw new UserError('usage: seine lab outside dns [NAME IP | NAME --delete]');
        deps.requireRoot();
        names = await m.setOutsideName(state, name, opts.delete ? undefined : ip).catch((err: Error) => {
          throw new UserError(err.message);
        });
      }
      out(`dns ${dns.ip}:${dns.port}, TTL ${dns.ttl} s:`);
      for (const [n, a] of Object.entries(names).sort()) out(`${n}  ${a}`);
    });
  outside
    .command('serve', { hidden: true })
    .requiredOption('--port <port>', 'TCP and UDP port', port)
    .requiredOption('--log <file>', 'connection log (JSON lines)')
    .action(async (opts: { port: number; log: string }) => {
      const { startOutsideServer } = await import('../lab/outside-server.js');
      const server = await startOutsideServer({ port: opts.port, logFile: opts.log });
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
      });
      server.close();
    });
}
