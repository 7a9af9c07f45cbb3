// The box's NAT for traffic leaving the cluster, in the host's iptables (nat POSTROUTING, one
// chain Seine owns, replaced atomically by iptables-restore --noflush): cluster destinations
// are left alone, Egress-selected pods (local, or tunnelled here from other boxes) are SNATed
// to their Egress IP, the box's other pods are masqueraded to the box IP. Rules match the pod's
// source IP rather than Antrea's packet mark: a pkt_mark set in OVS's userspace datapath does
// not reach the host stack through the gateway's tap device, the source IP does on both datapaths.
import { run } from '../../lib/exec.js';

export const SNAT_CHAIN = 'SEINE-POSTROUTING';

export interface SnatRule {
  podIP: string;
  egressIP: string;
  /** Egress name, as a rule comment. */
  egress: string;
}

export interface NatPlan {
  /** Own pod CIDR (masqueraded when leaving the cluster). */
  podCIDR: string;
  /** Destinations inside the cluster: pod CIDRs of every box, the Service CIDR. */
  clusterCIDRs: string[];
  snat: SnatRule[];
  /** Devices whose traffic is left as it is: pods' packets wrapped for a remote egress box (wireguard-path.ts). */
  passDevs?: string[];
}

/** The iptables-restore input that makes SNAT_CHAIN exactly this plan (pure). */
export function natRestoreInput(p: NatPlan): string {
  const lines = ['*nat', `:${SNAT_CHAIN} - [0:0]`];
  for (const d of p.passDevs ?? []) lines.push(`-A ${SNAT_CHAIN} -o ${d} -j RETURN`);
  for (const c of [...new Set(p.clusterCIDRs)].sort()) lines.push(`-A ${SNAT_CHAIN} -d ${c} -j RETURN`);
  const rules = [...p.snat].sort((a, b) => a.podIP.localeCompare(b.podIP) || a.egressIP.localeCompare(b.egressIP));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.podIP)) continue; // a pod in two Egresses: the first one wins, as in Antrea
    seen.add(r.podIP);
    lines.push(`-A ${SNAT_CHAIN} -s ${r.podIP}/32 -m comment --comment "egress ${r.egress}" -j SNAT --to-source ${r.egressIP}`);
  }
  lines.push(`-A ${SNAT_CHAIN} -s ${p.podCIDR} -m comment --comment "pods to outside: box IP" -j MASQUERADE`, 'COMMIT', '');
  return lines.join('\n');
}

let lastApplied: string | undefined;

/** Applies the plan when it changed; the POSTROUTING jump is added once. */
export async function applyNatPlan(p: NatPlan): Promise<void> {
  const input = natRestoreInput(p);
  if (input === lastApplied) return;
  await run('iptables-restore', ['-w', '5', '--noflush'], { input });
  const has = await run('iptables', ['-t', 'nat', '-w', '5', '-C', 'POSTROUTING', '-j', SNAT_CHAIN], { allowFailure: true });
  if (has.code !== 0) await run('iptables', ['-t', 'nat', '-w', '5', '-A', 'POSTROUTING', '-j', SNAT_CHAIN]);
  lastApplied = input;
}

/** True when the chain exists with rules in it (left by an earlier run of the agent). */
export async function natChainExists(): Promise<boolean> {
  const r = await run('iptables', ['-t', 'nat', '-w', '5', '-S', SNAT_CHAIN], { allowFailure: true }).catch(() => undefined);
  return !!r && r.code === 0 && r.stdout.split('\n').some((l) => l.startsWith(`-A ${SNAT_CHAIN}`));
}
