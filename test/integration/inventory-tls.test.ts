// The kube inventory over real TLS, as on a k3s box: server certificate checked against the
// kubeconfig's CA, client certificate presented to a server that requires one. Certificates
// are made with openssl in a temp dir for each run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeInventorySource } from '../../src/agent/inventory/kube.js';
import { loadKubeconfig } from '../../src/agent/inventory/kubeconfig.js';
import { ApiReplay } from '../unit/inventory/api-replay.js';
import { until } from '../unit/inventory/helpers.js';

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'integration prerequisites missing: needs openssl: apt-get install openssl' : String(err));
  }
}

/** A self-signed EC certificate; `san` makes it valid for that address. */
function selfSigned(dir: string, name: string, subject: string, san?: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', subject,
    ...(san ? ['-addext', `subjectAltName=${san}`] : []),
  ]);
  return { cert, key };
}

const b64 = (path: string) => readFileSync(path).toString('base64');

describe('KubeInventorySource over TLS with a k3s-style kubeconfig', () => {
  let dir: string;
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let api: ApiReplay | undefined;
  let source: KubeInventorySource | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'seine-tls-'));
    server = selfSigned(dir, 'server', '/CN=k3s', 'IP:127.0.0.1,DNS:kubernetes.default.svc');
    client = selfSigned(dir, 'client', '/O=system:masters/CN=system:seine-agent');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await api?.close();
    api = undefined;
  });

  const startApi = async () => {
    api = new ApiReplay({
      cert: readFileSync(server.cert),
      key: readFileSync(server.key),
      ca: readFileSync(client.cert),
      requestCert: true,
      rejectUnauthorized: true,
    }).withFixtureLists();
    return api.listen();
  };

  /** k3s.yaml's shape, with our certificates inlined as *-data. */
  const kubeconfig = (url: string, cluster: Record<string, string | boolean>) => {
    const path = join(dir, 'k3s.yaml');
    const lines = Object.entries({ ...cluster, server: url }).map(([k, v]) => `    ${k}: ${v}`);
    writeFileSync(
      path,
      ['apiVersion: v1', 'clusters:', '- cluster:', ...lines, '  name: default', 'contexts:', '- context:', '    cluster: default',
        '    user: default', '  name: default', 'current-context: default', 'kind: Config', 'preferences: {}', 'users:', '- name: default',
        '  user:', `    client-certificate-data: ${b64(client.cert)}`, `    client-key-data: ${b64(client.key)}`, ''].join('\n'),
    );
    return loadKubeconfig(path);
  };

  it('verifies the server against certificate-authority-data and presents the client certificate', async () => {
    const url = await startApi();
    source = new KubeInventorySource({ connection: kubeconfig(url, { 'certificate-authority-data': b64(server.cert) }), watchTimeoutSeconds: 60 });
    await source.start();
    assert.equal(source.snapshot().pods.size, 4);
    assert.ok(api!.requests.length >= 3);
    for (const r of api!.requests) assert.equal(r.clientCertCN, 'system:seine-agent');
  });

  it('refuses a server its CA did not sign, and syncs with insecure-skip-tls-verify', async () => {
    const url = await startApi();
    const other = selfSigned(dir, 'other-ca', '/CN=other-ca');
    source = new KubeInventorySource({
      connection: kubeconfig(url, { 'certificate-authority-data': b64(other.cert) }),
      watchTimeoutSeconds: 60,
      backoff: { initialMs: 20, maxMs: 50 },
    });
    const started = source.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(source.synced, false);
    assert.equal(api!.requests.length, 0, 'no request got through the TLS handshake');
    await source.stop();
    await assert.rejects(started);

    source = new KubeInventorySource({ connection: kubeconfig(url, { 'insecure-skip-tls-verify': true }), watchTimeoutSeconds: 60 });
    await source.start();
    await until(() => api!.requests.length >= 3, 'requests');
    assert.equal(source.snapshot().nodes.size, 2);
  });
});
