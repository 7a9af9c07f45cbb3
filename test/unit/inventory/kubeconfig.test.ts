import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  inClusterConnection,
  loadKubeconfig,
  resolveKubeConnection,
} from '../../../src/agent/inventory/kubeconfig.js';
import { FIXTURES } from './api-replay.js';

const fixturePath = (name: string) => new URL(name, FIXTURES).pathname;

describe('kubeconfig', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'seine-kubeconfig-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("reads k3s's k3s.yaml: server, CA and client certificate data", () => {
    const c = loadKubeconfig(fixturePath('kubeconfig-k3s.yaml'));
    assert.equal(c.server.href, 'https://127.0.0.1:6443/');
    assert.match(c.ca!.toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.match(c.cert!.toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.match(c.key!.toString(), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(c.token, undefined);
    assert.equal(c.insecureSkipTLSVerify, false);
    assert.match(c.origin, /kubeconfig-k3s\.yaml \(context default\)/);
  });

  it('follows current-context to a token user, and another context to client certificate files relative to the kubeconfig', () => {
    const agent = loadKubeconfig(fixturePath('kubeconfig-token.yaml'));
    assert.match(agent.token!, /^eyJhbGciOiJSUzI1NiIs/);
    assert.equal(agent.insecureSkipTLSVerify, true);

    const path = write('config', readFileSync(fixturePath('kubeconfig-token.yaml'), 'utf8'));
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'certs/admin.crt'), 'CERT');
    writeFileSync(join(dir, 'certs/admin.key'), 'KEY');
    const admin = loadKubeconfig(path, { context: 'admin' });
    assert.equal(admin.cert?.toString(), 'CERT');
    assert.equal(admin.key?.toString(), 'KEY');
    assert.equal(admin.token, undefined);
  });

  const config = (cluster: string, user: string, extra = '') => `
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
${cluster}
users:
- name: u
  user:
${user}
contexts:
- name: x
  context: {cluster: c, user: u}
${extra}`;

  const errors: [string, string, string, RegExp][] = [
    ['missing server', '    certificate-authority-data: Zm9v', '    token: t', /clusters\[0\]\.cluster\.server/],
    ['a server that is not a URL', '    server: 127.0.0.1:6443', '    token: t', /clusters\[0\]\.cluster\.server/],
    ['no credentials', '    server: https://k3s:6443', '    {}', /users\[name=u\]\.user: no credentials/],
    ['a certificate without its key', '    server: https://k3s:6443', '    client-certificate-data: Zm9v', /client-key\(-data\) is missing/],
    ['an exec plugin', '    server: https://k3s:6443', '    exec: {command: aws}', /exec and auth-provider credential plugins are not supported/],
    ['a CA file that is not there', '    server: https://k3s:6443\n    certificate-authority: missing-ca.crt', '    token: t', /certificate-authority .*missing-ca\.crt: ENOENT/],
  ];
  for (const [what, cluster, user, message] of errors) {
    it(`names the field when the kubeconfig has ${what}`, () => {
      const path = write('config', config(cluster, user));
      assert.throws(() => loadKubeconfig(path), (err: Error) => {
        assert.match(err.message, new RegExp(`^kubeconfig ${path}: `));
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('names a context that is missing, and a cluster a context points to that is missing', () => {
    const path = write('config', config('    server: https://k3s:6443', '    token: t', 'current-context: nope'));
    assert.throws(() => loadKubeconfig(path), /context "nope" is not in contexts/);
    const broken = write('broken', config('    server: https://k3s:6443', '    token: t').replace('cluster: c, user', 'cluster: other, user'));
    assert.throws(() => loadKubeconfig(broken), /names cluster "other", which is not in clusters/);
  });

  it('says when the file is not there or not YAML', () => {
    assert.throws(() => loadKubeconfig(join(dir, 'none')), /cannot read it \(ENOENT/);
    assert.throws(() => loadKubeconfig(write('bad', 'clusters: [\n')), /not valid YAML/);
  });

  it('builds the in-cluster connection from the service account files and KUBERNETES_SERVICE_HOST/PORT', () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    const c = inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.equal(c.server.href, 'https://10.43.0.1/');
    assert.equal(c.tokenFile, join(dir, 'token'));
    assert.equal(c.ca?.toString(), 'CA');
    const v6 = inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00:43::1', KUBERNETES_SERVICE_PORT: '6443' }, dir);
    assert.equal(v6.server.host, '[fd00:43::1]:6443');
    assert.throws(() => inClusterConnection({ KUBERNETES_SERVICE_PORT: '443' }, dir), /KUBERNETES_SERVICE_HOST is not set/);
    assert.throws(
      () => inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443' }, join(dir, 'none')),
      /in-cluster config: .*token.*is a service account token mounted/,
    );
  });

  it('prefers an explicit path, then $KUBECONFIG, then in-cluster, then k3s.yaml', () => {
    const k3s = fixturePath('kubeconfig-k3s.yaml');
    const token = fixturePath('kubeconfig-token.yaml');
    assert.ok(resolveKubeConnection(k3s, { KUBECONFIG: token }).cert);
    assert.ok(resolveKubeConnection(undefined, { KUBECONFIG: `${token}:${k3s}` }).token);
    assert.throws(
      () => resolveKubeConnection(undefined, { KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443' }),
      /in-cluster config/,
    );
  });
});
