// The controller's TLS material, resolved once at start: the user's own (`tls` in the config), or
// a CA and server certificate the controller makes itself in pkiDir on first start (as k3s does)
// and reuses afterwards; none only with `insecure: true`. The server certificate is issued again
// only when it no longer covers the configured names (or is near expiry, or from another CA).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { ControllerConfig } from '../api/config.js';
import { CONTROLLER_USERNAME } from '../api/mqtt.js';
import { caFingerprint, certificateCovers, ensureCa, issueCertificate } from '../lib/certs.js';
import { UserError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';

const log = createLogger('controller.pki');

export interface ControllerPki {
  caFile: string;
  /** Absent when the user brought their own tls without a CA key (the controller cannot sign). */
  caKeyFile: string | undefined;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** `sha256:<hex of the CA certificate's DER>`: what clients pin the CA by. */
  caFingerprint: string;
}

/** The file base name of the server certificate in pkiDir (server.crt, server.key). */
export const SERVER_CERT_NAME = 'server';

/** Where the controller keeps what it makes: beside its SQLite store (also with a PostgreSQL store). */
export function controllerDataDir(cfg: Pick<ControllerConfig, 'storePath'>): string {
  return path.dirname(cfg.storePath);
}

export function controllerPkiDir(cfg: Pick<ControllerConfig, 'storePath' | 'pkiDir'>): string {
  return cfg.pkiDir ?? path.join(controllerDataDir(cfg), 'pki');
}

/** The names every generated server certificate carries, plus the configured ones. */
export function serverNames(cfg: Pick<ControllerConfig, 'tlsSANs'>): { ips: string[]; dnsNames: string[] } {
  const host = hostname().toLowerCase();
  const dns = ['localhost', ...(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host) ? [host] : []), ...cfg.tlsSANs.dnsNames];
  return { ips: unique(['127.0.0.1', '::1', ...cfg.tlsSANs.ips]), dnsNames: unique(dns) };
}

/** The TLS material to serve with, or undefined for a plain (`insecure: true`) controller. */
export async function resolvePki(cfg: Pick<ControllerConfig, 'tls' | 'insecure' | 'pkiDir' | 'storePath' | 'tlsSANs'>): Promise<ControllerPki | undefined> {
  if (cfg.tls) {
    const t = cfg.tls;
    return withPem({ caFile: t.caFile, caKeyFile: t.caKeyFile, certFile: t.certFile, keyFile: t.keyFile });
  }
  if (cfg.insecure) return undefined;
  const dir = controllerPkiDir(cfg);
  const ca = await ensureCa(dir, 'Seine controller CA');
  if (ca.created) log.info({ dir }, 'created the controller CA');
  const names = serverNames(cfg);
  const files = { certFile: path.join(dir, `${SERVER_CERT_NAME}.crt`), keyFile: path.join(dir, `${SERVER_CERT_NAME}.key`) };
  const current = await readFile(files.certFile).catch(() => undefined);
  if (!current || !certificateCovers(current, await readFile(ca.certFile), names)) {
    // CN = the controller's MQTT username, as `seine certs controller` makes it (also a client certificate).
    await issueCertificate(dir, { commonName: CONTROLLER_USERNAME, fileName: SERVER_CERT_NAME, usages: ['serverAuth', 'clientAuth'], ...names });
    log.info({ dir, ...names, reissued: !!current }, 'issued the controller server certificate');
  }
  return withPem({ caFile: ca.certFile, caKeyFile: ca.keyFile, ...files });
}

async function withPem(f: Pick<ControllerPki, 'caFile' | 'caKeyFile' | 'certFile' | 'keyFile'>): Promise<ControllerPki> {
  const read = (field: string, file: string) => readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`tls.${field} ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  // Settled in field order: with several files missing, the error names the first (the CA), not
  // whichever read failed first.
  const results = await Promise.allSettled([read('caFile', f.caFile), read('certFile', f.certFile), read('keyFile', f.keyFile)]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [ca, cert, key] = results.map((r) => (r as PromiseFulfilledResult<Buffer>).value);
  if (f.caKeyFile) await read('caKeyFile', f.caKeyFile);
  return { ...f, ca, cert, key, caFingerprint: caFingerprint(ca) };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
