// `seine certs`: a CA and the certificates a fleet needs, with the openssl CLI (src/lib/certs.ts).
//   seine certs ca                       the CA (kept if it exists)
//   seine certs node <name...>           per-node client certificates, CN = node name = MQTT username
//   seine certs controller --ip/--dns    the controller's server certificate (REST + embedded
//                                        broker); CN = the controller's MQTT username, so it is
//                                        also its client certificate on an external broker
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { CONTROLLER_USERNAME } from '../api/mqtt.js';
import { isDNS1123Subdomain } from '../api/meta.js';
import { ensureCa, issueCertificate } from '../lib/certs.js';
import { UserError } from '../lib/errors.js';

export const DEFAULT_PKI_DIR = '/etc/seine/pki';

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerCertsCommand(program: Command): void {
  const certs = program.command('certs').description('create a CA and per-node and controller TLS certificates (openssl)');
  const dirOption = (c: Command) => c.option('-d, --dir <dir>', 'directory of the CA and certificates', DEFAULT_PKI_DIR);

  dirOption(certs.command('ca').description('create the CA (ca.crt, ca.key); an existing one is kept')).action(async (opts: { dir: string }) => {
    const ca = await ensureCa(opts.dir);
    say(`${ca.created ? 'created' : 'kept existing'} CA ${ca.certFile}`);
  });

  dirOption(certs.command('node <name...>').description('issue client certificates for nodes (CN = node name), creating the CA if needed'))
    .option('--days <n>', 'validity in days', '825')
    .action(async (names: string[], opts: { dir: string; days: string }) => {
      for (const n of names) if (!isDNS1123Subdomain(n)) throw new UserError(`invalid node name ${JSON.stringify(n)}: expected lowercase alphanumerics, "-" or "."`);
      await caFirst(opts.dir);
      for (const n of names) {
        const f = await issueCertificate(opts.dir, { commonName: n, usages: ['clientAuth'], days: days(opts.days) });
        say(`node ${n}: ${f.certFile} ${f.keyFile}`);
      }
    });

  dirOption(certs.command('controller').description('issue the controller certificate (server: REST and embedded broker; client: an external broker)'))
    .option('--ip <address>', 'an IP address clients dial (repeatable; default 127.0.0.1)', collect, [])
    .option('--dns <name>', 'a DNS name clients dial (repeatable; default localhost and this host name)', collect, [])
    .option('--days <n>', 'validity in days', '825')
    .action(async (opts: { dir: string; ip: string[]; dns: string[]; days: string }) => {
      await caFirst(opts.dir);
      const f = await issueCertificate(opts.dir, {
        commonName: CONTROLLER_USERNAME, fileName: 'controller', usages: ['serverAuth', 'clientAuth'], days: days(opts.days),
        ips: opts.ip.length ? opts.ip : ['127.0.0.1'], dnsNames: opts.dns.length ? opts.dns : ['localhost', hostname()],
      });
      say(`controller: ${f.certFile} ${f.keyFile}`);
    });
}

async function caFirst(dir: string): Promise<void> {
  const ca = await ensureCa(dir);
  if (ca.created) say(`created CA ${ca.certFile}`);
}

function days(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--days: expected a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
