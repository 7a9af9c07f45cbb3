// First boot against a temporary box root: the real module, real files, the image's own agent.yaml.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { AgentConfigSchema } from '../../../src/api/config.js';
import { ERROR_FILE, PROVISIONED_FILE, provisionFromBoot, ProvisionError } from '../../../src/agent/first-boot/provision.js';

const BOOT = '/boot/firmware';
const imageAgentYaml = new URL('../../../rootfs/etc/seine/agent.yaml', import.meta.url);

describe('first boot (seine-node.yaml → agent config)', () => {
  let root: string;
  const box = (p: string) => path.join(root, p);
  const boot = (name: string) => box(path.join(BOOT, name));
  const exists = (p: string) => stat(box(p)).then(() => true, () => false);

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'seine-firstboot-'));
    await mkdir(box('/etc/seine'), { recursive: true });
    await mkdir(box(BOOT), { recursive: true });
    await copyFile(imageAgentYaml, box('/etc/seine/agent.yaml'));
    await writeFile(box('/etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('writes the agent config with password credentials, the host name and the marker, then removes the secret', async () => {
    await writeFile(boot('seine-node.yaml'), 'controllerUrl: mqtt://10.0.2.2:1883\nnodeName: box-17\ninsecure: true\ncredentials:\n  username: box-17\n  password: s3cret-pw\nagent:\n  podCIDR: 10.42.7.0/24\n');
    const named: string[] = [];
    const result = await provisionFromBoot({ root, bootDir: BOOT, setHostname: async (n) => void named.push(n) });
    assert.equal(result.state, 'provisioned');
    const cfg = AgentConfigSchema.parse(parse(await readFile(box('/etc/seine/agent.yaml'), 'utf8')));
    assert.equal(cfg.nodeName, 'box-17');
    assert.equal(cfg.podCIDR, '10.42.7.0/24');
    assert.equal(cfg.datapathType, 'system', 'the image defaults stay');
    assert.deepEqual(cfg.controller?.credentials, { username: 'box-17', password: 's3cret-pw' });
    assert.equal((await stat(box('/etc/seine/agent.yaml'))).mode & 0o777, 0o600);
    assert.equal(await readFile(box('/etc/hostname'), 'utf8'), 'box-17\n');
    assert.match(await readFile(box('/etc/hosts'), 'utf8'), /^127\.0\.1\.1\tbox-17$/m);
    assert.deepEqual(named, ['box-17']);
    assert.ok(await exists('/var/lib/seine/provisioned'));
    const bootFiles = await readdir(box(BOOT));
    assert.deepEqual(bootFiles, [PROVISIONED_FILE]);
    assert.doesNotMatch(await readFile(boot(PROVISIONED_FILE), 'utf8'), /s3cret-pw/);
    assert.deepEqual(await readdir(box('/etc/seine')), ['agent.yaml'], 'no staging files left');

    assert.deepEqual(await provisionFromBoot({ root, bootDir: BOOT }), { state: 'already-provisioned' });
  });

  it('writes an enrollment config from a join token and the CA fingerprint, and removes the token from the boot partition', async () => {
    const fp = `sha256:${'0f'.repeat(32)}`;
    await writeFile(boot('seine-node.yaml'), `controllerUrl: mqtts://ctl.lan:8883\nnodeName: box-9\njoinToken: 0123456789abcdef.secret-token\ncaFingerprint: ${fp}\n`);
    const result = await provisionFromBoot({ root, bootDir: BOOT });
    assert.equal(result.state, 'provisioned');
    const cfg = AgentConfigSchema.parse(parse(await readFile(box('/etc/seine/agent.yaml'), 'utf8')));
    assert.deepEqual(cfg.controller?.enrollment, { server: 'https://ctl.lan:8443', token: '0123456789abcdef.secret-token', caFingerprint: fp });
    assert.equal(cfg.controller?.credentials, undefined);
    assert.equal((await stat(box('/etc/seine/agent.yaml'))).mode & 0o777, 0o600, 'the token is readable by root only');
    assert.deepEqual(await readdir(box(BOOT)), [PROVISIONED_FILE]);
    const left = await readFile(boot(PROVISIONED_FILE), 'utf8');
    assert.doesNotMatch(left, /secret-token/);
    assert.match(left, /caFingerprint: sha256:/);
  });

  it('refuses a password without insecure: true, naming the field, and changes nothing', async () => {
    await writeFile(boot('seine-node.yaml'), 'controllerUrl: mqtt://10.0.2.2:1883\nnodeName: box-17\ncredentials:\n  username: box-17\n  password: s3cret-pw\n');
    await assert.rejects(provisionFromBoot({ root, bootDir: BOOT }), (e: ProvisionError) => /credentials: password credentials need insecure: true/.test(e.message));
    assert.equal(await exists('/var/lib/seine/provisioned'), false);
    assert.match(await readFile(boot(ERROR_FILE), 'utf8'), /insecure: true/);
  });

  it('copies certificate credentials into /etc/seine/pki and deletes them from the boot partition', async () => {
    await writeFile(boot('box.crt'), 'CERT');
    await writeFile(boot('box.key'), 'KEY');
    await writeFile(boot('ca.crt'), 'CA');
    await writeFile(boot('seine-node.yaml'), `controllerUrl: mqtts://ctl.lan:8883\nnodeName: box-3\ncaFile: ${BOOT}/ca.crt\ncredentials:\n  certFile: ${BOOT}/box.crt\n  keyFile: ${BOOT}/box.key\n`);
    await provisionFromBoot({ root, bootDir: BOOT });
    const cfg = AgentConfigSchema.parse(parse(await readFile(box('/etc/seine/agent.yaml'), 'utf8')));
    assert.deepEqual(cfg.controller?.credentials, { certFile: '/etc/seine/pki/node.crt', keyFile: '/etc/seine/pki/node.key' });
    assert.equal(cfg.controller?.caFile, '/etc/seine/pki/ca.crt');
    assert.equal(await readFile(box('/etc/seine/pki/node.key'), 'utf8'), 'KEY');
    assert.equal((await stat(box('/etc/seine/pki/node.key'))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(box(BOOT)), [PROVISIONED_FILE]);
  });

  const rejects = async (yaml: string | undefined, expected: RegExp) => {
    const before = await readFile(box('/etc/seine/agent.yaml'), 'utf8');
    if (yaml !== undefined) await writeFile(boot('seine-node.yaml'), yaml);
    await assert.rejects(provisionFromBoot({ root, bootDir: BOOT }), (err: Error) => {
      assert.ok(err instanceof ProvisionError);
      assert.match(err.message, expected);
      return true;
    });
    // Nothing on the box changed; the reason is on the boot partition; the file is still there to fix.
    assert.equal(await readFile(box('/etc/seine/agent.yaml'), 'utf8'), before);
    assert.equal(await exists('/var/lib/seine/provisioned'), false);
    assert.equal(await exists('/etc/hostname'), false);
    assert.match(await readFile(boot(ERROR_FILE), 'utf8'), expected);
    if (yaml !== undefined) assert.equal(await readFile(boot('seine-node.yaml'), 'utf8'), yaml);
  };

  it('names the bad field and changes nothing', async () => {
    await rejects('controllerUrl: mqtt://ctl:1883\nnodeName: Box_17\ncredentials: {username: a, password: b}\n', /seine-node\.yaml: nodeName: invalid node name "Box_17"/);
    await rejects('controllerUrl: mqtt://ctl:1883\nnodeName: box\ncredentials: {username: a}\n', /credentials\.password: required/);
    await rejects('controllerUrl: mqtt://ctl:1883\nnodeName: box\ninsecure: true\ncredentials: {username: a, password: b}\nagent: {tunnelType: ipip}\n', /agent\.tunnelType: /);
    await rejects(`controllerUrl: mqtts://ctl:8883\nnodeName: box\ncredentials: {certFile: /etc/x.crt, keyFile: ${BOOT}/k}\n`, /credentials\.certFile: expected a file on the boot partition/);
    await rejects(`controllerUrl: mqtts://ctl:8883\nnodeName: box\ncredentials: {certFile: ${BOOT}/missing.crt, keyFile: ${BOOT}/k}\n`, /node\.crt: cannot read \/boot\/firmware\/missing\.crt/);
    await rejects('controllerUrl: [unclosed\n', /not valid YAML/);
  });

  it('says so when there is no seine-node.yaml', async () => {
    await rejects(undefined, /no seine-node\.yaml on the boot partition/);
  });

  it('leaves no file half-written when a write fails', async () => {
    await writeFile(box('/etc/seine/pki'), 'a file where the pki directory should be');
    await writeFile(boot('k'), 'KEY');
    await writeFile(boot('c'), 'CERT');
    await rejects(`controllerUrl: mqtts://ctl:8883\nnodeName: box\ncredentials: {certFile: ${BOOT}/c, keyFile: ${BOOT}/k}\n`, /provisioning failed/);
    assert.deepEqual((await readdir(box('/etc/seine'))).sort(), ['agent.yaml', 'pki']);
    assert.equal(await readFile(boot('k'), 'utf8'), 'KEY', 'the secret stays until provisioning succeeded');
  });
});
