// The files the image lays down must be valid for the programs that read them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { AgentConfigSchema } from '../../src/api/config.js';
import { parseConfig } from '../../src/api/config-file.js';
import { cniPluginType } from '../../src/api/cni.js';
import { MARKER } from '../../src/agent/first-boot/provision.js';
import { BOOT_LABEL, BOOT_MOUNTPOINT, ROOT_LABEL } from '../../images/genimage.js';
import { LAUNCHER_PATH } from '../../images/runtime.js';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../../src/lib/small-box.js';

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

  it('runs the agent as a notify service with a watchdog, only on a provisioned box, keeping OVS flows across restarts', async () => {
    const unit = await read('etc/systemd/system/seine-agent.service');
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^NotifyAccess=all$/m, 'systemd-notify is a child process');
    assert.match(unit, /^WatchdogSec=\d+$/m);
    assert.match(unit, new RegExp(`^ConditionPathExists=${MARKER}$`, 'm'));
    assert.match(unit, /^After=.*seine-first-boot\.service/m);
    // With Type=notify, ordering before k3s would deadlock: the agent waits for k3s's pod CIDR.
    assert.doesNotMatch(unit, /^Before=.*k3s/m);
    // The launcher decides which release runs (issue 17); its paths are agent.yaml's update section.
    const cfg = parseConfig(await read('etc/seine/agent.yaml'), 'agent.yaml', AgentConfigSchema);
    // Node runs the launcher with the small-box settings the launcher gives the agent (src/lib/small-box.ts).
    for (const [k, v] of Object.entries(AGENT_NODE_ENV)) assert.match(unit, new RegExp(`^Environment=${k}=${v}$`, 'm'));
    assert.match(unit, new RegExp(`^ExecStart=/usr/local/bin/node ${AGENT_NODE_FLAGS.join(' ')} ${LAUNCHER_PATH} --root ${cfg.update.root} --state-dir ${cfg.update.stateDir} -- agent --config /etc/seine/agent\\.yaml$`, 'm'));
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^KillMode=mixed$/m, 'SIGTERM to the launcher alone, SIGKILL to an agent left behind');
    assert.match(unit, /^ProtectSystem=(full|strict)$/m);
    const caps = (name: string) => unit.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1]?.split(/\s+/).sort();
    assert.deepEqual(caps('CapabilityBoundingSet'), ['CAP_DAC_OVERRIDE', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
    assert.deepEqual(caps('AmbientCapabilities'), caps('CapabilityBoundingSet'));
    for (const cap of caps('CapabilityBoundingSet')!) assert.match(unit, new RegExp(`^# ${cap}: \\S`, 'm'), `${cap} is justified`);
  });

  it('provisions once, before the agent and k3s, with errors on the console', async () => {
    const unit = await read('etc/systemd/system/seine-first-boot.service');
    assert.match(unit, new RegExp(`^ConditionPathExists=!${MARKER}$`, 'm'));
    assert.match(unit, /^Before=.*seine-agent\.service.*k3s\.service/m);
    assert.match(unit, new RegExp(`^RequiresMountsFor=${BOOT_MOUNTPOINT}`, 'm'));
    assert.match(unit, /^ExecStart=\/opt\/seine\/current\/bin\/seine first-boot --boot \/boot\/firmware$/m);
    assert.match(unit, /^StandardError=journal\+console$/m);
    const k3s = await read('etc/systemd/system/k3s.service');
    assert.match(k3s, /^ConditionPathExists=\/usr\/local\/bin\/k3s$/m, 'an image without k3s boots without a failed unit');
  });

  it('mounts the partitions the image layout labels', async () => {
    const fstab = await read('etc/fstab');
    assert.match(fstab, new RegExp(`^LABEL=${ROOT_LABEL}\\s+/\\s+ext4`, 'm'));
    assert.match(fstab, new RegExp(`^LABEL=${BOOT_LABEL}\\s+${BOOT_MOUNTPOINT}\\s+vfat`, 'm'));
  });

  it('puts the CNI plugin in k3s\'s static CNI bin dir under its type name, and loads the OVS kernel datapath', async () => {
    const tmpfiles = await read('etc/tmpfiles.d/seine.conf');
    assert.match(tmpfiles, new RegExp(`^L\\+ /var/lib/rancher/k3s/data/cni/${cniPluginType} - - - - /opt/seine/current/bin/seine-cni$`, 'm'));
    assert.match(await read('etc/modules-load.d/seine.conf'), /^openvswitch$/m);
    assert.match(await read('etc/systemd/journald.conf.d/seine.conf'), /^SystemMaxUse=/m);
  });
});
