import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { AgentConfigSchema, ControllerConfigSchema, SeineNodeFileSchema, SeinectlConfigSchema, agentLocalApiSocket, enrollmentServerOf } from '../../../src/api/config.js';
import { describeProblem, formatIssues } from '../../../src/api/issues.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../../src/api/mqtt.js';

function problems(result: { success: boolean; error?: { issues: Parameters<typeof formatIssues>[0] } }): string[] {
  return result.success ? [] : formatIssues(result.error!.issues).map(describeProblem);
}

describe('api: configuration schemas', () => {
  it('fills the AgentConfig defaults', () => {
    const config = AgentConfigSchema.parse({ nodeName: 'box-17' });
    const expected = {
      nodeName: 'box-17',
      bridgeName: 'br-int',
      datapathType: 'system',
      tunnelType: 'geneve',
      trafficEncapMode: 'encap',
      serviceCIDR: '10.43.0.0/16',
      stateDir: '/var/lib/seine',
      cniSocket: '/var/run/seine/cni.sock',
      ovsdbRemote: 'unix:/var/run/openvswitch/db.sock',
    };
    // Other modules add their own settings; check these without pinning the whole object.
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, config[k as keyof typeof config]])), expected);
  });

  it('keeps explicit AgentConfig values and rejects bad ones on their path', () => {
    const lab = AgentConfigSchema.parse({ nodeName: 'lab-1', datapathType: 'netdev', tunnelType: 'vxlan', podCIDR: '10.42.1.0/24', mtu: 1450 });
    assert.equal(lab.datapathType, 'netdev');
    assert.equal(lab.podCIDR, '10.42.1.0/24');
    const bad = AgentConfigSchema.safeParse(
      { nodeName: 'lab-1', tunnelType: 'stt', trafficEncapMode: 'networkPolicyOnly', stateDir: 'relative', extra: 1 },
      { reportInput: true },
    );
    assert.deepEqual(problems(bad), [
      'tunnelType: expected one of geneve|vxlan|gre, got "stt"',
      'trafficEncapMode: expected one of encap|noEncap|hybrid, got "networkPolicyOnly"',
      'stateDir: expected an absolute path, got "relative"',
      'extra: unknown field "extra"',
    ]);
  });

  it('fills ControllerConfig defaults (TLS ports; the plain ones only with insecure) and accepts an external broker URL', () => {
    assert.deepEqual(ControllerConfigSchema.parse({}), {
      listen: ':8443',
      nodeCertificateValiditySeconds: 30 * 86400,
      broker: 'embedded',
      brokerListen: ':8883',
      brokerProtocolVersion: 5,
      storePath: '/var/lib/seine-controller/seine.db',
      auth: { adminTokens: [], readOnlyTokens: [] },
      tlsSANs: { ips: [], dnsNames: [] },
      insecure: false,
      maxMessageBytes: 4194304,
      loginFailureLimits: { perSource: 20, perNode: 10, windowSeconds: 60 },
      releaseUploadMaxBytes: 512 << 20,
      auditRetention: { maxAgeDays: 365, maxRows: 100_000 },
      releaseKeys: [],
    });
    assert.match(String(ControllerConfigSchema.safeParse({ releaseKeys: ['release.pub'] }).error?.issues[0]?.path), /releaseKeys,0/);
    const plain = ControllerConfigSchema.parse({ insecure: true });
    assert.deepEqual([plain.listen, plain.brokerListen], [':8080', ':1883']);
    assert.deepEqual([ControllerConfigSchema.parse({ insecure: true, listen: ':9000' }).listen, ControllerConfigSchema.parse({ brokerListen: ':1884' }).brokerListen], [':9000', ':1884']);
    // One message limit: the controller's and the agents' defaults are the contract's.
    const agent = AgentConfigSchema.parse({ nodeName: 'box-1', controller: { url: 'mqtt://c:1883', credentials: { username: 'box-1', password: 'p' } } });
    assert.equal(agent.controller?.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert.equal(ControllerConfigSchema.parse({}).maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert.equal(agent.controller?.outboxBytes, 64 << 20);
    assert.equal(ControllerConfigSchema.parse({ broker: 'mqtts://emqx.example:8883' }).broker, 'mqtts://emqx.example:8883');
    assert.equal(ControllerConfigSchema.safeParse({ broker: 'kafka://x' }).success, false);
    assert.equal(ControllerConfigSchema.safeParse({ listen: '0.0.0.0' }).success, false);
    assert.equal(ControllerConfigSchema.parse({ listen: '[::1]:9000' }).listen, '[::1]:9000');
  });

  it('agent controller section: password or certificate credentials (the latter only over TLS), CA, MQTT version', () => {
    const cert = { certFile: '/etc/seine/pki/box-1.crt', keyFile: '/etc/seine/pki/box-1.key' };
    const ok = AgentConfigSchema.parse({ nodeName: 'box-1', controller: { url: 'mqtts://c:8883', credentials: cert, caFile: '/etc/seine/pki/ca.crt', protocolVersion: 5 } });
    assert.deepEqual(ok.controller?.credentials, cert);
    assert.equal(AgentConfigSchema.parse({ nodeName: 'box-1', controller: { url: 'mqtt://c:1883', credentials: { username: 'box-1', password: 'p' } } }).controller?.protocolVersion, 4);
    assert.deepEqual(problems(AgentConfigSchema.safeParse({ nodeName: 'box-1', controller: { url: 'mqtt://c:1883', credentials: cert } }, { reportInput: true })), [
      'controller.url: certificate credentials need a TLS URL (mqtts://, wss:// or mqtts+unix://)',
    ]);
    assert.equal(agentLocalApiSocket(AgentConfigSchema.parse({ nodeName: 'box-1', cniSocket: '/run/x/cni.sock' })), '/run/x/agent-api.sock');
    assert.equal(agentLocalApiSocket(AgentConfigSchema.parse({ nodeName: 'box-1', localApiSocket: '/run/api.sock' })), '/run/api.sock');
  });

  it('seinectl config file and controller tls', () => {
    assert.deepEqual(SeinectlConfigSchema.parse({ server: 'https://c:8443', token: 't', certificateAuthority: '/ca.crt' }), { server: 'https://c:8443', token: 't', certificateAuthority: '/ca.crt' });
    assert.deepEqual(problems(SeinectlConfigSchema.safeParse({ server: 'c:8443', certificateAuthority: 'ca.crt' }, { reportInput: true })), [
      'server: expected an http:// or https:// URL, got "c:8443"',
      'certificateAuthority: expected an absolute path, got "ca.crt"',
    ]);
    assert.equal(ControllerConfigSchema.safeParse({ tls: { caFile: '/ca.crt', certFile: '/c.crt' } }).success, false);
    assert.equal(ControllerConfigSchema.parse({ tls: { caFile: '/ca.crt', certFile: '/c.crt', keyFile: '/c.key', caKeyFile: '/ca.key' } }).tls?.caKeyFile, '/ca.key');
  });

  it('controller: tlsSANs and REST tokens given as the token or its sha256: hash, mistakes named by path', () => {
    const hash = `sha256:${'ab'.repeat(32)}`;
    const cfg = ControllerConfigSchema.parse({ tlsSANs: { ips: ['10.0.0.5', 'fd00::5'], dnsNames: ['controller.lan'] }, auth: { adminTokens: [hash, 'a-plain-token-of-16+'] } });
    assert.deepEqual(cfg.tlsSANs, { ips: ['10.0.0.5', 'fd00::5'], dnsNames: ['controller.lan'] });
    assert.deepEqual(cfg.auth.adminTokens, [hash, 'a-plain-token-of-16+']);
    const bad = ControllerConfigSchema.safeParse({ tlsSANs: { ips: ['10.0.0.5,IP:1.2.3.4'], dnsNames: ['a b'] }, auth: { readOnlyTokens: [`sha256:${'AB'.repeat(32)}`] }, insecure: 'yes' }, { reportInput: true });
    assert.deepEqual(problems(bad).map((p) => p.split(':')[0]), ['auth.readOnlyTokens[0]', 'tlsSANs.ips[0]', 'tlsSANs.dnsNames[0]', 'insecure']);
  });

  it('reads seine-node.yaml with a join token, certificate credentials, or a password behind insecure: true', () => {
    const fp = `sha256:${'AB'.repeat(32)}`;
    const enrolling = SeineNodeFileSchema.parse({ controllerUrl: 'mqtts://controller.lan:8883', nodeName: 'box-17', joinToken: 't', caFingerprint: fp });
    assert.equal(enrolling.caFingerprint, fp.toLowerCase());
    assert.equal(enrollmentServerOf(enrolling), 'https://controller.lan:8443');
    assert.deepEqual(problems(SeineNodeFileSchema.safeParse({ controllerUrl: 'mqtt://controller.lan:1883', nodeName: 'box-17', joinToken: 't', caFingerprint: 'md5:x' }, { reportInput: true })), [
      'caFingerprint: expected sha256:<64 hex digits> (seinectl node add prints it), got "md5:x"',
      'controllerUrl: enrollment needs a TLS URL (mqtts://, wss:// or mqtts+unix://)',
    ]);
    const password = 'controllerUrl: mqtt://controller.lan:1883\nnodeName: box-17\ncredentials:\n  username: box-17\n  password: s3cret\n';
    assert.deepEqual(problems(SeineNodeFileSchema.safeParse(parse(password), { reportInput: true })), [
      'credentials: password credentials need insecure: true (use joinToken and caFingerprint from seinectl node add)',
    ]);
    const withPassword = SeineNodeFileSchema.parse(parse(`${password}insecure: true\n`));
    assert.deepEqual(withPassword.credentials, { username: 'box-17', password: 's3cret' });
    const withCert = SeineNodeFileSchema.parse({
      controllerUrl: 'mqtts://controller.lan:8883',
      nodeName: 'box-17',
      credentials: { certFile: '/boot/seine/node.crt', keyFile: '/boot/seine/node.key' },
    });
    assert.ok(withCert.credentials && 'certFile' in withCert.credentials);
  });

  it('rejects seine-node.yaml mistakes on their path', () => {
    const result = SeineNodeFileSchema.safeParse(
      { controllerUrl: 'http://controller.lan', nodeName: 'Box 17', credentials: { username: 'box' } },
      { reportInput: true },
    );
    assert.deepEqual(problems(result), [
      'controllerUrl: expected an mqtt://, mqtts://, ws://, wss://, mqtt+unix:///path or mqtts+unix:///path URL, got "http://controller.lan"',
      'nodeName: invalid node name "Box 17": expected lowercase alphanumerics, "-" or ".", starting and ending alphanumeric',
      'credentials.password: required',
    ]);
    const plainWithCert = SeineNodeFileSchema.safeParse({
      controllerUrl: 'mqtt://controller.lan',
      nodeName: 'box',
      credentials: { certFile: '/a', keyFile: '/b' },
    });
    assert.deepEqual(problems(plainWithCert), ['controllerUrl: certificate credentials need a TLS URL (mqtts://, wss:// or mqtts+unix://)']);
  });
});
