// `seine lab svc add|rm|ls`: Services in the lab (src/lab/services.ts), wired like the other lab commands.
import { Option, type Command } from 'commander';
import { UserError } from '../lib/errors.js';
import { parsePodRef } from '../lab/labels.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const collect = (value: string, previous: string[]) => [...previous, value];

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new UserError('seine lab needs root (network namespaces, OVS)');
}

export function registerLabServiceCommands(lab: Command): void {
  const svc = lab.command('svc').description('Services: a cluster IP (and node ports) load-balanced in each box\'s OVS to the pods matching a selector');
  svc
    .command('add')
    .argument('<ns/name>')
    .requiredOption('--selector <k=v,...>', 'pods to balance to (same namespace)')
    .option('--port <[name=]port:targetPort/PROTO>', 'a service port (repeatable, or comma-separated)', collect, [])
    .addOption(new Option('--type <type>', 'Service type').choices(['ClusterIP', 'NodePort']).default('ClusterIP'))
    .option('--affinity <None|ClientIP[:seconds]>', 'session affinity (ClientIP default timeout 10800 s)')
    .addOption(new Option('--traffic-policy <policy>', 'Local: only endpoints on the client\'s (or the receiving) box; sets internal and external policy').choices(['Cluster', 'Local']).default('Cluster'))
    .action(async (ref: string, opts: { selector: string; port: string[]; type: 'ClusterIP' | 'NodePort'; affinity?: string; trafficPolicy: 'Cluster' | 'Local' }) => {
      const { parseAffinity, parseSelector, parseServicePorts, formatService } = await import('../lab/services.js');
      const { namespace, name } = parsePodRef(ref);
      const req = { namespace, name, type: opts.type, selector: parseSelector(opts.selector), ports: parseServicePorts(opts.port), affinitySeconds: parseAffinity(opts.affinity), trafficPolicy: opts.trafficPolicy };
      requireRoot();
      const { Lab } = await import('../lab/lab.js');
      const lab = new Lab();
      const s = await lab.addService(req);
      const { serviceEndpoints } = await import('../lab/services.js');
      out(formatService(s, serviceEndpoints(s, (await lab.current()).pods).length));
    });
  svc
    .command('rm')
    .argument('<ns/name>')
    .action(async (ref: string) => {
      const r = parsePodRef(ref);
      requireRoot();
      const { Lab } = await import('../lab/lab.js');
      await new Lab().removeService(r);
      out(`service ${r.namespace}/${r.name} removed`);
    });
  svc
    .command('ls')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { Lab } = await import('../lab/lab.js');
      const { formatService, serviceEndpoints } = await import('../lab/services.js');
      const s = await new Lab().current();
      const rows = s.services.map((x) => ({ ...x, endpoints: serviceEndpoints(x, s.pods).map((p) => ({ pod: `${p.namespace}/${p.name}`, ip: p.ip, box: p.box })) }));
      if (opts.json) {
        out(JSON.stringify(rows, null, 2));
        return;
      }
      out('NAME\tTYPE\tCLUSTER-IP\tPORTS\tENDPOINTS');
      for (const r of rows) out(formatService(r, r.endpoints.length));
    });
}
