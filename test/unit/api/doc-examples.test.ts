// Every manifest example from Antrea's docs (antrea-network-policy.md, traceflow-guide.md,
// egress.md) and the Kubernetes NetworkPolicy example, saved verbatim, must load unchanged.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ManifestError, loadManifestFile } from '../../../src/api/manifest.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/antrea');

const ANTREA = 'crd.antrea.io/v1beta1';
const K8S = 'networking.k8s.io/v1';

/** File → [apiVersion, kind, name] of each object, in order. */
const expected: Record<string, [string, string, string][]> = {
  'anp-doc-mytier.yaml': [[ANTREA, 'Tier', 'mytier']],
  'anp-doc-acnp-with-stand-alone-selectors.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-with-stand-alone-selectors']],
  'anp-doc-acnp-with-cluster-groups.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-with-cluster-groups']],
  'anp-doc-isolate-all-pods-in-namespace.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'isolate-all-pods-in-namespace']],
  'anp-doc-strict-ns-isolation.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'strict-ns-isolation']],
  'anp-doc-default-cluster-deny.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'default-cluster-deny']],
  'anp-doc-acnp-drop-to-services.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-drop-to-services']],
  'anp-doc-acnp-reject-ping-request.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-reject-ping-request']],
  'anp-doc-acnp-with-igmp-drop.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-with-igmp-drop']],
  'anp-doc-acnp-with-multicast-traffic-drop.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-with-multicast-traffic-drop']],
  'anp-doc-ingress-allow-http-request-to-api-v2.yaml': [[ANTREA, 'NetworkPolicy', 'ingress-allow-http-request-to-api-v2']],
  'anp-doc-allow-web-access-to-internal-domain.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'allow-web-access-to-internal-domain']],
  'anp-doc-acnp-node-egress-traffic-drop.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-node-egress-traffic-drop']],
  'anp-doc-acnp-node-ingress-traffic-drop.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-node-ingress-traffic-drop']],
  'anp-doc-acnp-with-log-setting.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-with-log-setting']],
  'anp-doc-acnp-appliedto-per-rule.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-appliedto-per-rule']],
  'anp-doc-test-annp.yaml': [[ANTREA, 'NetworkPolicy', 'test-annp']],
  'anp-doc-annp-with-groups.yaml': [[ANTREA, 'NetworkPolicy', 'annp-with-groups']],
  'anp-doc-test-annp-by-name.yaml': [[ANTREA, 'NetworkPolicy', 'test-annp-by-name']],
  'anp-doc-acnp-fqdn-all-foobar.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-fqdn-all-foobar']],
  'anp-doc-acnp-fqdn-headless-service.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-fqdn-headless-service']],
  'anp-doc-egress-control-plane.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'egress-control-plane']],
  'anp-doc-acnp-service-account.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-service-account']],
  'anp-doc-acnp-deny-external-client-nodeport-svc-access.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'acnp-deny-external-client-nodeport-svc-access']],
  'anp-doc-allow-core-dns-access.yaml': [[ANTREA, 'ClusterNetworkPolicy', 'allow-core-dns-access']],
  'anp-doc-test-cg-sel.yaml': [
    [ANTREA, 'ClusterGroup', 'test-cg-sel'],
    [ANTREA, 'ClusterGroup', 'test-cg-ip-block'],
    [ANTREA, 'ClusterGroup', 'test-cg-svc-ref'],
    [ANTREA, 'ClusterGroup', 'test-cg-nested'],
  ],
  'anp-doc-test-grp-sel.yaml': [
    [ANTREA, 'Group', 'test-grp-sel'],
    [ANTREA, 'Group', 'test-grp-with-namespace'],
    [ANTREA, 'Group', 'test-grp-ip-block'],
    [ANTREA, 'Group', 'test-grp-svc-ref'],
    [ANTREA, 'Group', 'test-grp-nested'],
  ],
  'traceflow-doc-tf-test.yaml': [[ANTREA, 'Traceflow', 'tf-test']],
  'traceflow-doc-tf-test-ipv6.yaml': [[ANTREA, 'Traceflow', 'tf-test-ipv6']],
  'traceflow-doc-tf-test-2.yaml': [[ANTREA, 'Traceflow', 'tf-test']],
  'egress-doc-egress-prod-web.yaml': [[ANTREA, 'Egress', 'egress-prod-web']],
  'egress-doc-egress-prod-web-2.yaml': [[ANTREA, 'Egress', 'egress-prod-web']],
  'egress-doc-egress-prod-web-3.yaml': [
    [ANTREA, 'Egress', 'egress-prod-web'],
    [ANTREA, 'Egress', 'egress-staging-web'],
  ],
  'egress-doc-egress-prod.yaml': [
    [ANTREA, 'Egress', 'egress-prod'],
    [ANTREA, 'Egress', 'egress-staging'],
  ],
  'egress-doc-prod-external-ip-pool.yaml': [[ANTREA, 'ExternalIPPool', 'prod-external-ip-pool']],
  'egress-doc-prod-external-ip-pool-2.yaml': [[ANTREA, 'ExternalIPPool', 'prod-external-ip-pool']],
  'egress-doc-external-ip-pool.yaml': [[ANTREA, 'ExternalIPPool', 'external-ip-pool']],
  'k8s-doc-test-network-policy.yaml': [[K8S, 'NetworkPolicy', 'test-network-policy']],
};

/**
 * Doc examples that use `action: Deny`, which Antrea's own CRD rejects (its enum is
 * Allow|Drop|Reject|Pass): they must fail, on exactly those fields and nothing else.
 */
const errata: Record<string, string[]> = {
  'anp-doc-allow-self-ns.yaml': ['spec.ingress[1].action', 'spec.egress[1].action'],
  'anp-doc-deny-self-ns-a-to-b.yaml': ['spec.ingress[0].action'],
  'anp-doc-isolation-based-on-org.yaml': ['spec.ingress[1].action', 'spec.egress[1].action'],
  'anp-doc-isolation-based-on-org-and-env.yaml': ['spec.ingress[1].action'],
};

describe('api: Antrea and Kubernetes documentation examples', () => {
  it('every fixture file has an expectation', () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(files.sort(), Object.keys(expected).sort());
  });

  for (const [file, objects] of Object.entries(expected)) {
    it(`${file} loads unchanged as ${[...new Set(objects.map(([, kind]) => kind))].join(', ')}`, async () => {
      const loaded = await loadManifestFile(join(fixtures, file));
      assert.deepEqual(
        loaded.map((o) => [o.apiVersion, o.kind, o.metadata.name]),
        objects,
      );
      // Validation adds, drops and rewrites nothing.
      const raw = parseAllDocuments(readFileSync(join(fixtures, file), 'utf8')).map((d) => d.toJS());
      assert.deepEqual(loaded, raw);
    });
  }

  for (const [file, paths] of Object.entries(errata)) {
    it(`doc erratum ${file} is rejected only for action: Deny`, async () => {
      const err = await loadManifestFile(join(fixtures, 'doc-errata', file)).then(
        () => assert.fail('expected a ManifestError'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ManifestError);
      const name = file.replace(/^anp-doc-/, '').replace(/\.yaml$/, '');
      assert.deepEqual(
        err.message.split('\n'),
        paths.map((p) => `${file} doc 1 (ClusterNetworkPolicy ${name}): ${p}: expected one of Allow|Drop|Reject|Pass, got "Deny"`),
      );
    });
  }
});
