// Network policy on the box: the sync hands over the desired policy objects (K8s and Antrea
// policies, tiers, groups); this realizer computes the node's rules from them and the
// inventory, installs them as flows through the datapath, and reports each object Realized
// only once the flows are in. A policy the computation rejects is Failed with its reason and
// contributes nothing. Inventory changes (pods, labels, namespaces) recompute the rules.
//
// The computation is incremental: one PolicyComputer lives as long as the agent, fed every
// inventory change, and each desired object keeps its parsed form while its generation stands,
// so a pod coming or going recomputes only the policies whose selections it touches.
import { UPSTREAM_POLICY_KINDS } from '../../api/admin-policy.js';
import { findQualifiedKind, type ManifestObject } from '../../api/kinds.js';
import { parseObjectKey, type DesiredObject } from '../../api/node-state.js';
import { CoalescingRunner } from '../../lib/coalesce.js';
import { createLogger } from '../../lib/log.js';
import { phaseRecorder } from '../../lib/phases.js';
import { PolicyComputer, policyObjectsOf } from '../../policy/compute/compute.js';
import { GroupTable } from '../../policy/compute/groups.js';
import { computeHostRules, type HostRule } from '../../policy/compute/host.js';
import { TierTable } from '../../policy/compute/tiers.js';
import { errorMessage } from '../../lib/errors.js';
import type { NodePolicySet, PolicyError } from '../../policy/compute/types.js';
import type { Datapath } from '../datapath.js';
import type { InventorySource } from '../../api/inventory.js';
import type { RealizeOutcome, Realizer, RealizerRegistry } from '../sync/realizers.js';
import type { PolicyFlowInput } from './flows.js';
import { serviceFrontends } from '../service/frontends.js';

const log = createLogger('policy');
/** One convergence: the rules computed, then the datapath synced with them. */
const phases = phaseRecorder('agent.policy');

/** The kinds whose objects together make the node's policy (qualified as the registry names them). */
export const POLICY_KINDS = [
  'ClusterNetworkPolicy.crd.antrea.io',
  'NetworkPolicy.crd.antrea.io',
  'NetworkPolicy.networking.k8s.io',
  ...UPSTREAM_POLICY_KINDS,
  'Tier.crd.antrea.io',
  'ClusterGroup.crd.antrea.io',
  'Group.crd.antrea.io',
] as const;

export class PolicyRealizer {
  private readonly sets = new Map<string, ReadonlyMap<string, DesiredObject>>();
  private rules: NodePolicySet;
  private errors = new Map<string, string>();
  private readonly runner = new CoalescingRunner(() => this.converge());
  private computer?: PolicyComputer;
  /** Each desired object as a manifest, kept while its spec stands (the computer memoizes by identity). */
  private readonly manifests = new Map<string, { spec: string; manifest: ManifestObject }>();
  /** Bumped by every input change; converge skips a follow-up run that would see nothing new. */
  private changes = 0;
  private computedAt = -1;

  constructor(
    private readonly node: string,
    private readonly inventory: InventorySource,
    private readonly datapath: () => Datapath,
    /** Where the rules of policies applied to Nodes go (the host's iptables: host-firewall.ts). */
    private readonly hostFirewall?: { apply(rules: readonly HostRule[]): Promise<void> },
  ) {
    this.rules = { node, rules: [], isolated: { ingress: [], egress: [] } };
    inventory.on('change', (change) => {
      this.computer?.applyChange(change);
      this.changes++;
      if (this.sets.size) this.runner.run().catch((err) => log.error({ err }, 'policy recompute failed'));
    });
  }

  /** Registers one realizer per policy kind; they share this computation. */
  register(registry: RealizerRegistry): void {
    for (const name of POLICY_KINDS) {
      const kind = findQualifiedKind(name);
      if (!kind) throw new Error(`unknown kind ${name}`);
      registry.registerRealizer(kind, this.realizerFor(name));
    }
  }

  /** The flow feature's input: this node's rules and its pods' OVS ports. */
  async flowInput(ofports: () => Promise<ReadonlyMap<string, number>>): Promise<PolicyFlowInput> {
    const input: PolicyFlowInput = { policies: this.rules, ofports: await ofports() };
    // Read at every sync: a Service change syncs the datapath (service/index.ts), so toServices rules follow it.
    if (this.rules.rules.some((r) => r.peers.toServices)) input.serviceFrontends = serviceFrontends(this.inventory.snapshot());
    return input;
  }

  private realizerFor(kind: string): Realizer {
    return {
      realize: async (objects) => {
        // Stored before any await: every kind of one desired document is in before computing.
        this.sets.set(kind, objects);
        this.changes++;
        await this.runner.run();
        const out = new Map<string, RealizeOutcome>();
        for (const key of objects.keys()) {
          const error = this.errors.get(key);
          out.set(key, error ? { ok: false, reason: error } : { ok: true });
        }
        return out;
      },
    };
  }

  private async converge(): Promise<void> {
    await Promise.resolve(); // let the other kinds of the same document register first
    // The kinds of one document arrive as separate calls; the run that started first already saw them all.
    if (this.computedAt === this.changes) return;
    const span = phases.begin();
    const at = this.changes;
    const objects: ManifestObject[] = [];
    const seen = new Set<string>();
    for (const set of this.sets.values()) {
      for (const [key, o] of set) {
        seen.add(key);
        // By content, not generation: a controller with a fresh store counts generations from 1 again.
        const spec = JSON.stringify(o.spec);
        let m = this.manifests.get(key);
        if (m?.spec !== spec) this.manifests.set(key, (m = { spec, manifest: toManifest(key, o) }));
        objects.push(m.manifest);
      }
    }
    for (const key of this.manifests.keys()) if (!seen.has(key)) this.manifests.delete(key);
    this.computer ??= new PolicyComputer(this.inventory.snapshot());
    const t0 = performance.now();
    const sorted = policyObjectsOf(objects);
    const result = this.computer.compute(sorted);
    const host = computeHostRules(sorted.hostPolicies ?? [], {
      index: this.computer.index, groups: new GroupTable(sorted.clusterGroups, sorted.groups), tiers: new TierTable(sorted.tiers),
    });
    const computeMs = Math.round((performance.now() - t0) * 10) / 10;
    this.rules = result.nodes.get(this.node) ?? { node: this.node, rules: [], isolated: { ingress: [], egress: [] } };
    this.errors = new Map([...result.errors, ...host.errors].map((e) => [e.policy.uid ?? '', describe(e)]));
    span.mark('compute');
    await this.datapath().sync();
    span.mark('datapath');
    // Host rules: every policy applied to Nodes is Realized only once the host's iptables hold it.
    const hostPolicies = sorted.hostPolicies ?? [];
    if (hostPolicies.length || this.hostFirewall) {
      try {
        if (!this.hostFirewall) throw new Error('this agent has no host firewall');
        await this.hostFirewall.apply(host.rules);
      } catch (err) {
        log.error({ err }, 'host firewall not applied');
        for (const p of hostPolicies) if (!this.errors.has(p.metadata.uid ?? '')) this.errors.set(p.metadata.uid ?? '', `host firewall (iptables): ${errorMessage(err)}`);
      }
    }
    span.end();
    this.computedAt = at;
    log.info({ objects: objects.length, recomputed: this.computer.lastRecomputed, computeMs, rules: this.rules.rules.length, hostRules: host.rules.length, failed: this.errors.size }, 'policy realized');
  }
}

/** A desired object as the manifest it came from (the key's uid lets errors find their object). */
function toManifest(key: string, o: DesiredObject): ManifestObject {
  const ref = parseObjectKey(key);
  if (!ref) throw new Error(`invalid object key ${key}`);
  return {
    apiVersion: ref.kind.apiVersions[ref.kind.apiVersions.length - 1],
    kind: ref.kind.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), uid: key },
    spec: o.spec,
  } as ManifestObject;
}

const describe = (e: PolicyError) => (e.path ? `${e.path}: ${e.message}` : e.message);
