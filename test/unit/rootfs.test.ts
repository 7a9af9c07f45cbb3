// The files the image lays down must be valid for the programs that read them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { AgentConfigSchema } from '../../src/api/config.js';
import { parseConfig } from '../../src/api/config-file.js';

const read = (p: string) => readFile(new URL(`../../rootfs/${p}`, import.meta.url), 'utf8');

describe('rootfs', () => {
  it('ships an agent config the agent accepts, for the kernel datapath and k3s paths', async () => {
    const cfg = parseConfig(await read('etc/seine/agent.yaml'), 'agent.yaml', AgentConfigSchema);
    assert.equal(cfg.datapathType, 'system');
    assert.equal(cfg.cniConfDir, '/var/lib/rancher/k3s/agent/etc/cni/net.d');
    assert.deepEqual(cfg.inventory, { source: 'kubernetes', kubeconfig: '/etc/rancher/k3s/k3s.yaml' });
  });

  it('configures k3s without flannel, its network policy controller and kube-proxy', async () => {
    const k3s = parse(await read('etc/rancher/k3s/config.yaml')) as Record<string, unknown>;
    assert.equal(k3s['flannel-backend'], 'none');
    assert.equal(k3s['disable-network-policy'], true);
    assert.equal(k3s['disable-kube-proxy'], true);
    assert.equal(k3s['service-cidr'], '10.43.0.0/16');
    assert.equal(k3s['cluster-cidr'], '10.42.0.0/16');
  });

  it('starts the agent before k3s and keeps OVS flows across agent restarts', async () => {
    const unit = await read('etc/systemd/system/seine-agent.service');
    assert.match(unit, /^Before=.*k3s\.service/m);
    assert.match(unit, /^ExecStart=.* agent --config \/etc\/seine\/agent\.yaml$/m);
    assert.match(unit, /^Restart=always$/m);
  });
});
