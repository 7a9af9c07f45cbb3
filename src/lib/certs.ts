// A small X.509 CA on the openssl CLI (Node 20 can parse certificates but not issue them):
// an EC P-256 CA, and leaf certificates signed by it with the usages and names asked for.
// Keys are written 0600. Files: <dir>/ca.crt, ca.key, <name>.crt, <name>.key.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.js';

export interface CaFiles {
  certFile: string;
  keyFile: string;
}

export interface LeafOptions {
  /** Subject CN (a node name is its MQTT username). */
  commonName: string;
  /** File base name in the directory (default: the CN). */
  fileName?: string;
  /** Where the key and certificate go (default: the CA's directory). */
  outDir?: string;
  usages: ('clientAuth' | 'serverAuth')[];
  /** Subject alternative names: IP addresses and DNS names (servers need the ones clients dial). */
  ips?: string[];
  dnsNames?: string[];
  days?: number;
}

const exists = (f: string) => access(f).then(() => true, () => false);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function caFiles(dir: string): CaFiles {
  return { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') };
}

/** Creates the CA in `dir` unless there is one; returns its files and whether it was made now. */
export async function ensureCa(dir: string, commonName = 'Seine CA', days = 3650): Promise<CaFiles & { created: boolean }> {
  const ca = caFiles(dir);
  if ((await exists(ca.certFile)) && (await exists(ca.keyFile))) return { ...ca, created: false };
  await mkdir(dir, { recursive: true });
  await run('openssl', [
    'req', '-x509', '-new', ...EC, '-keyout', ca.keyFile, '-out', ca.certFile, '-days', String(days), '-subj', `/CN=${commonName}`,
    '-config', '/dev/null', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash',
  ]);
  await chmod(ca.keyFile, 0o600);
  return { ...ca, created: true };
}

/** Issues a key and a certificate signed by the CA in `dir` (replacing earlier ones of that name). */
export async function issueCertificate(dir: string, opts: LeafOptions): Promise<CaFiles> {
  const ca = caFiles(dir);
  if (!(await exists(ca.certFile)) || !(await exists(ca.keyFile))) throw new Error(`no CA in ${dir} (ca.crt, ca.key): create it first`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(opts.commonName)) throw new Error(`certificate name ${JSON.stringify(opts.commonName)}: expected 1-64 of A-Z a-z 0-9 _ . -`);
  if (opts.outDir) await mkdir(opts.outDir, { recursive: true });
  const base = path.join(opts.outDir ?? dir, opts.fileName ?? opts.commonName);
  const out = { certFile: `${base}.crt`, keyFile: `${base}.key` };
  const csr = `${base}.csr`;
  const ext = `${base}.ext`;
  const sans = [...(opts.dnsNames ?? []).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((i) => `IP:${i}`)];
  await writeFile(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.usages.join(',')}`,
    'authorityKeyIdentifier=keyid',
    ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
    '',
  ].join('\n'));
  try {
    await run('openssl', ['req', '-new', ...EC, '-keyout', out.keyFile, '-out', csr, '-subj', `/CN=${opts.commonName}`, '-config', '/dev/null']);
    await chmod(out.keyFile, 0o600);
    const serial = randomBytes(16);
    serial[0]! &= 0x7f; // a positive serial number
    await run('openssl', [
      'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${serial.toString('hex')}`,
      '-days', String(opts.days ?? 825), '-extfile', ext, '-out', out.certFile,
    ]);
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
  return out;
}

/** `sha256:<hex>` of a certificate's DER: what a joining box pins the controller's CA by. */
export function caFingerprint(pem: Buffer | string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`;
}

/**
 * Whether a server certificate still serves: signed by this CA, valid for at least `minDays`
 * more, and naming every IP and DNS name asked for.
 */
export function certificateCovers(certPem: Buffer | string, caPem: Buffer | string, want: { ips?: string[]; dnsNames?: string[] }, minDays = 30): boolean {
  const cert = new X509Certificate(certPem);
  if (!cert.checkIssued(new X509Certificate(caPem)) || !cert.verify(new X509Certificate(caPem).publicKey)) return false;
  if (new Date(cert.validTo).getTime() < Date.now() + minDays * 86_400_000) return false;
  // DNS names compared as written (a wildcard asked for must be there as a wildcard).
  const dns = new Set((cert.subjectAltName ?? '').split(', ').filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase()));
  return (want.ips ?? []).every((ip) => cert.checkIP(ip) !== undefined) && (want.dnsNames ?? []).every((d) => dns.has(d.toLowerCase()));
}
