// The box's identity: its key and node certificate in `<stateDir>/pki/` (node.pem holds both,
// so one atomic rename swaps them together; ca.crt is the pinned fleet CA). At start the box
// enrolls when it has no certificate yet (join token + CA fingerprint); afterwards it renews
// at 2/3 of the certificate's lifetime with a fresh key, over its current certificate, and
// hands the new TLS material to whoever connects with it (the MQTT session reconnects).
import { X509Certificate, createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Backoff } from '../../lib/backoff.js';
import { caFingerprint, createKeyAndCsr } from '../../lib/certs.js';
import { errorMessage } from '../../lib/errors.js';
import { writeFileDurable } from '../../lib/files.js';
import { createLogger } from '../../lib/log.js';
import { EnrollmentError, enroll, fetchPinnedCa, renew } from './enroll-client.js';

const log = createLogger('agent.identity');

export interface NodeIdentityOptions {
  node: string;
  /** `<stateDir>/pki`. */
  pkiDir: string;
  /** The controller's REST URL (https://), and a unix socket to reach it through (the lab). */
  server: string;
  serverSocket?: string | undefined;
  /** One-time join token; needed only while the box has no certificate. */
  token?: string | undefined;
  /** `sha256:<hex>` of the fleet CA, pinned before anything is sent. */
  caFingerprint: string;
  /** Fraction of the lifetime after which the certificate is renewed (default 2/3). */
  renewAt?: number;
  backoff?: Backoff;
}

export interface NodeTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class NodeIdentity {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly listeners = new Set<(tls: NodeTls) => void | Promise<void>>();
  private readonly backoff: Backoff;
  /** Renewals done by this process. */
  renewals = 0;

  private constructor(private readonly opts: NodeIdentityOptions, private current: { ca: string; key: string; cert: string }) {
    this.backoff = opts.backoff ?? new Backoff({ initialMs: 1000, maxMs: 5 * 60_000 });
  }

  static files(pkiDir: string) {
    return { ca: path.join(pkiDir, 'ca.crt'), node: path.join(pkiDir, 'node.pem'), token: path.join(pkiDir, 'token.sha256') };
  }

  /**
   * Loads the certificate in pkiDir, or enrolls when there is none, when it was made for another
   * CA, or when the config holds a join token other than the one it was enrolled with (a node
   * deleted and added again gets a new token; its old certificate is revoked).
   */
  static async load(opts: NodeIdentityOptions): Promise<NodeIdentity> {
    const files = NodeIdentity.files(opts.pkiDir);
    const [ca, pem, usedToken] = await Promise.all([files.ca, files.node, files.token].map((f) => readFile(f, 'utf8').catch(() => undefined)));
    const newToken = opts.token !== undefined && usedToken?.trim() !== tokenHash(opts.token);
    if (newToken && pem) log.warn({ pkiDir: opts.pkiDir }, 'a new join token in the config: enrolling again');
    if (ca && pem && !newToken && caFingerprint(ca) === opts.caFingerprint.toLowerCase()) {
      const { key, cert } = splitPem(pem, files.node);
      const x = new X509Certificate(cert);
      if (x.subject !== `CN=${opts.node}`) throw new EnrollmentError(`${files.node} is for ${x.subject}, not CN=${opts.node}: remove ${opts.pkiDir} and enroll with a join token`);
      if (Date.parse(x.validTo) <= Date.now()) {
        throw new EnrollmentError(`the node certificate in ${files.node} expired at ${x.validTo} (the box was away longer than its lifetime): enroll again with a new join token (seinectl node add ${opts.node}), after removing ${opts.pkiDir}`);
      }
      return new NodeIdentity(opts, { ca, key, cert });
    }
    if (ca || pem) log.warn({ pkiDir: opts.pkiDir }, 'the stored certificate is not from the pinned CA: enrolling again');
    return new NodeIdentity(opts, await NodeIdentity.enroll(opts));
  }

  private static async enroll(opts: NodeIdentityOptions): Promise<{ ca: string; key: string; cert: string }> {
    if (!opts.token) throw new EnrollmentError(`node ${opts.node} has no certificate in ${opts.pkiDir} and no join token to enroll with (seinectl node add ${opts.node})`);
    // The CA is checked against the pinned fingerprint before the token leaves the box.
    const server = { url: opts.server, socketPath: opts.serverSocket };
    const ca = await fetchPinnedCa(server, opts.caFingerprint);
    await mkdir(opts.pkiDir, { recursive: true, mode: 0o700 });
    const keyFile = path.join(opts.pkiDir, 'enroll.key');
    try {
      const csr = await createKeyAndCsr(keyFile, opts.node);
      const got = await enroll(server, ca, { nodeName: opts.node, token: opts.token, csr });
      const key = await readFile(keyFile, 'utf8');
      await store(opts.pkiDir, ca, key, got.certificate);
      await writeFileDurable(NodeIdentity.files(opts.pkiDir).token, `${tokenHash(opts.token)}\n`);
      log.info({ node: opts.node, serial: got.serial, notAfter: got.notAfter }, 'enrolled: node certificate received');
      return { ca, key, cert: got.certificate };
    } finally {
      await rm(keyFile, { force: true });
    }
  }

  get tls(): NodeTls {
    return { ca: Buffer.from(this.current.ca), cert: Buffer.from(this.current.cert), key: Buffer.from(this.current.key) };
  }

  get certificate(): X509Certificate {
    return new X509Certificate(this.current.cert);
  }

  /** Called with the new material after each renewal (the MQTT session reconnects with it). */
  onRenewed(listener: (tls: NodeTls) => void | Promise<void>): void {
    this.listeners.add(listener);
  }

  /** Schedules renewals. */
  start(): void {
    this.stopped = false;
    this.schedule(this.renewDelay());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** ms until 2/3 (renewAt) of the current certificate's lifetime. */
  renewDelay(): number {
    const x = this.certificate;
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    return Math.max(0, from + (to - from) * (this.opts.renewAt ?? 2 / 3) - Date.now());
  }

  /** A new key and certificate over the current one; swaps both files atomically. */
  async renew(): Promise<void> {
    const keyFile = path.join(this.opts.pkiDir, 'renew.key');
    try {
      const csr = await createKeyAndCsr(keyFile, this.opts.node);
      const got = await renew({ url: this.opts.server, socketPath: this.opts.serverSocket }, this.current, csr);
      const key = await readFile(keyFile, 'utf8');
      await store(this.opts.pkiDir, this.current.ca, key, got.certificate);
      this.current = { ca: this.current.ca, key, cert: got.certificate };
      this.renewals++;
      log.info({ node: this.opts.node, serial: got.serial, notAfter: got.notAfter }, 'node certificate renewed');
    } finally {
      await rm(keyFile, { force: true });
    }
    for (const l of this.listeners) await l(this.tls);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew().then(
        () => {
          this.backoff.reset();
          this.schedule(this.renewDelay());
        },
        (err) => {
          const expired = Date.parse(this.certificate.validTo) <= Date.now();
          log.error({ err: errorMessage(err), expired }, expired ? 'renewal failed and the certificate expired: the box needs a new join token' : 'renewal failed; retrying');
          this.schedule(this.backoff.next());
        },
      );
    }, Math.min(ms, 2 ** 31 - 1));
    this.timer.unref();
  }
}

/** Which token the box enrolled with (the token itself is used up; its hash only tells a new one apart). */
function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Key and certificate in one file, so one rename swaps both. */
async function store(pkiDir: string, ca: string, key: string, cert: string): Promise<void> {
  const files = NodeIdentity.files(pkiDir);
  await writeFileDurable(files.ca, ca, 0o644);
  await writeFileDurable(files.node, `${key.trim()}\n${cert.trim()}\n`, 0o600);
}

function splitPem(pem: string, file: string): { key: string; cert: string } {
  const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!key || !cert) throw new EnrollmentError(`${file}: expected a private key and a certificate (PEM)`);
  return { key: `${key}\n`, cert: `${cert}\n` };
}
