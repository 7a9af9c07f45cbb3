// A small X.509 CA on the openssl CLI (Node 20 can parse certificates but not issue them):
// an EC P-256 CA, and leaf certificates signed by it with the usages and names asked for.
// Keys are written 0600. Files: <dir>/ca.crt, ca.key, <name>.crt, <name>.key.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/** Makes a P-256 key (0600) at `keyFile` and returns a CSR for it with subject CN=`commonName`. The key never leaves the box. */
export async function createKeyAndCsr(keyFile: string, commonName: string): Promise<string> {
  checkName(commonName);
  await mkdir(path.dirname(keyFile), { recursive: true });
  const { stdout } = await run('openssl', ['req', '-new', ...EC, '-keyout', keyFile, '-subj', `/CN=${commonName}`, '-config', '/dev/null'], { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  await chmod(keyFile, 0o600);
  return stdout;
}

export interface SignedCertificate {
  pem: string;
  /** Upper-case hex, as Node's X509Certificate.serialNumber and TLSSocket.getPeerCertificate() give it. */
  serial: string;
  notAfter: Date;
}

/**
 * Signs a CSR with the CA (a client certificate, subject forced to CN=`commonName`). `openssl ca`
 * rather than `x509 -req`: OpenSSL 3.0's x509 counts validity in whole days, and node
 * certificates may live minutes (tests) to weeks. The request's own signature is checked.
 */
export async function signCsr(ca: CaFiles, csrPem: string, opts: { commonName: string; usages: ('clientAuth' | 'serverAuth')[]; validitySeconds: number }): Promise<SignedCertificate> {
  checkName(opts.commonName);
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/.test(csrPem)) {
    throw new CertificateRequestError('expected one PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)');
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'seine-sign-'));
  try {
    const serial = randomBytes(16);
    serial[0]! &= 0x7f; // a positive serial number
    serial[0]! |= 0x10; // and no leading zero byte, so its hex is the same everywhere
    await writeFile(path.join(dir, 'index.txt'), '');
    await writeFile(path.join(dir, 'serial'), `${serial.toString('hex').toUpperCase()}\n`);
    await writeFile(path.join(dir, 'req.csr'), csrPem);
    await writeFile(path.join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = seine', '[seine]', `database = ${dir}/index.txt`, `new_certs_dir = ${dir}`, `serial = ${dir}/serial`,
      'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied',
      '[ext]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature', `extendedKeyUsage = ${opts.usages.join(',')}`,
      'authorityKeyIdentifier = keyid', 'subjectKeyIdentifier = hash', '',
    ].join('\n'));
    // Backdated so a box whose clock is a little behind accepts it: a minute, less for short lives.
    const start = new Date(Date.now() - Math.min(60_000, opts.validitySeconds * 100));
    const end = new Date(Date.now() + opts.validitySeconds * 1000);
    const out = path.join(dir, 'out.crt');
    let stderr = '';
    try {
      ({ stderr } = await run('openssl', [
        'ca', '-batch', '-config', path.join(dir, 'ca.cnf'), '-extensions', 'ext', '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', path.join(dir, 'req.csr'),
        '-out', out, '-startdate', asn1Time(start), '-enddate', asn1Time(end), '-subj', `/CN=${opts.commonName}`, '-notext', '-utf8',
      ]));
    } catch (err) {
      if (/signature|request|PEM|asn1|decod/i.test((err as Error).message)) throw new CertificateRequestError(`the certificate request was refused: ${(err as Error).message.split('|').pop()!.trim()}`);
      throw err;
    }
    // OpenSSL 3.0's `ca` exits 0 without a certificate when the request's signature is wrong.
    const pem = await readFile(out, 'utf8').catch(() => '');
    if (!pem) throw new CertificateRequestError(`the certificate request was refused: ${stderr.trim().split('\n').filter((l) => /signature|error|match/i.test(l)).join('; ') || 'openssl signed nothing'}`);
    const x = new X509Certificate(pem);
    return { pem, serial: x.serialNumber.toUpperCase(), notAfter: new Date(x.validTo) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A CSR that cannot be signed (not PEM, bad signature): the caller's fault, not the CA's. */
export class CertificateRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateRequestError';
  }
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error(`certificate name ${JSON.stringify(name)}: expected 1-64 of A-Z a-z 0-9 _ . -`);
}

/** GeneralizedTime, as `openssl ca -startdate/-enddate` take it. */
function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}
