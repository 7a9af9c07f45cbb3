// Invalid manifests: each case breaks one rule of a valid object and expects the problem reported
// on the exact field path, in the `file doc N (Kind name): path: message` shape.
import { expectProblem, variant, type Obj } from './helpers.js';

const acnp: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'web-allow' },
  spec: {
    priority: 5,
    tier: 'securityops',
    appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }],
    ingress: [
      {
        action: 'Allow',
        name: 'allow-frontend',
        from: [{ podSelector: { matchLabels: { role: 'frontend' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ],
    egress: [{ action: 'Drop', name: 'drop-third-party', to: [{ ipBlock: { cidr: '10.0.10.0/24' } }] }],
  },
};

const anp: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'NetworkPolicy',
  metadata: { name: 'db-allow', namespace: 'default' },
  spec: {
    priority: 5,
    appliedTo: [{ podSelector: { matchLabels: { role: 'db' } } }],
    ingress: [{ action: 'Allow', from: [{ podSelector: {} }] }],
  },
};

const netpol: Obj = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'db', namespace: 'default' },
  spec: {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } }], ports: [{ protocol: 'TCP', port: 6379 }] }],
    egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
  },
};

const tier: Obj = { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name: 'mytier' }, spec: { priority: 10 } };
const clusterGroup: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'ClusterGroup',
  metadata: { name: 'db' },
  spec: { podSelector: { matchLabels: { role: 'db' } } },
};
const traceflow: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'Traceflow',
  metadata: { name: 'tf' },
  spec: { source: { namespace: 'default', pod: 'a' }, destination: { namespace: 'default', pod: 'b' } },
};
const egress: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'Egress',
  metadata: { name: 'eg' },
  spec: { appliedTo: { podSelector: { matchLabels: { app: 'web' } } }, egressIP: '10.10.0.8' },
};
const pool: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'ExternalIPPool',
  metadata: { name: 'pool' },
  spec: { ipRanges: [{ start: '10.10.0.2', end: '10.10.0.10' }], nodeSelector: {} },
};

interface Case {
  title: string;
  base: Obj;
  edit: (o: Obj) => void;
  path: string;
  fragment: string;
}

const cases: Case[] = [
  // ClusterNetworkPolicy: policy level
  { title: 'ACNP without priority', base: acnp, edit: (o) => delete o.spec.priority, path: 'spec.priority', fragment: 'required' },
  { title: 'ACNP priority below 1', base: acnp, edit: (o) => (o.spec.priority = 0.5), path: 'spec.priority', fragment: 'must be >= 1' },
  { title: 'ACNP priority above 10000', base: acnp, edit: (o) => (o.spec.priority = 10000.5), path: 'spec.priority', fragment: 'must be <= 10000' },
  { title: 'ACNP priority as a string', base: acnp, edit: (o) => (o.spec.priority = 'high'), path: 'spec.priority', fragment: 'expected number, got string' },
  { title: 'ACNP tier name with spaces', base: acnp, edit: (o) => (o.spec.tier = 'My Tier'), path: 'spec.tier', fragment: 'invalid tier name "My Tier"' },
  { title: 'ACNP unknown spec field', base: acnp, edit: (o) => (o.spec.priorty = 3), path: 'spec.priorty', fragment: 'unknown field "priorty"' },
  { title: 'unknown top-level field', base: acnp, edit: (o) => (o.specs = {}), path: 'specs', fragment: 'unknown field "specs"' },
  { title: 'metadata.name missing', base: acnp, edit: (o) => delete o.metadata.name, path: 'metadata.name', fragment: 'required' },
  { title: 'metadata.name not a DNS subdomain', base: acnp, edit: (o) => (o.metadata.name = 'Web_Allow'), path: 'metadata.name', fragment: 'invalid name "Web_Allow"' },
  // rules
  {
    title: 'rule action Deny',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].action = 'Deny'),
    path: 'spec.ingress[0].action',
    fragment: 'expected one of Allow|Drop|Reject|Pass, got "Deny"',
  },
  { title: 'rule without action', base: acnp, edit: (o) => delete o.spec.egress[0].action, path: 'spec.egress[0].action', fragment: 'required' },
  {
    title: 'duplicate rule names in one direction',
    base: acnp,
    edit: (o) => o.spec.ingress.push({ action: 'Drop', name: 'allow-frontend' }),
    path: 'spec.ingress[1].name',
    fragment: 'duplicate rule name "allow-frontend" (first used at spec.ingress[0].name)',
  },
  {
    title: 'duplicate rule names across ingress and egress',
    base: acnp,
    edit: (o) => (o.spec.egress[0].name = 'allow-frontend'),
    path: 'spec.egress[0].name',
    fragment: 'duplicate rule name',
  },
  { title: 'unknown rule field', base: acnp, edit: (o) => (o.spec.ingress[0].foo = 1), path: 'spec.ingress[0].foo', fragment: 'unknown field "foo"' },
  {
    title: 'fqdn in an ingress peer',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].from = [{ fqdn: 'example.com' }]),
    path: 'spec.ingress[0].from[0].fqdn',
    fragment: 'unknown field "fqdn"',
  },
  { title: 'Pass in the baseline tier', base: acnp, edit: (o) => ((o.spec.tier = 'baseline'), (o.spec.ingress[0].action = 'Pass')), path: 'spec.ingress[0].action', fragment: 'Pass is not allowed in the baseline tier' },
  // toServices (Antrea's validate.go: no to, ports or protocols beside it; ACNP entries name their namespace)
  {
    title: 'toServices with ports',
    base: acnp,
    edit: (o) => ((o.spec.egress[0] = { action: 'Drop', toServices: [{ name: 'web', namespace: 'prod' }], ports: [{ protocol: 'TCP', port: 80 }] })),
    path: 'spec.egress[0].toServices',
    fragment: 'toServices cannot be used with to, ports, protocols or l7Protocols in the same rule (also set: ports)',
  },
  {
    title: 'toServices with to and protocols',
    base: acnp,
    edit: (o) => ((o.spec.egress[0].toServices = [{ name: 'web', namespace: 'prod' }]), (o.spec.egress[0].protocols = [{ icmp: {} }])),
    path: 'spec.egress[0].toServices',
    fragment: '(also set: to, protocols)',
  },
  { title: 'toServices empty', base: acnp, edit: (o) => (o.spec.egress[0] = { action: 'Drop', toServices: [] }), path: 'spec.egress[0].toServices', fragment: 'must have at least 1 item' },
  { title: 'toServices in an ACNP without namespace', base: acnp, edit: (o) => (o.spec.egress[0] = { action: 'Drop', toServices: [{ name: 'web' }] }), path: 'spec.egress[0].toServices[0].namespace', fragment: 'required' },
  { title: 'toServices entry without name', base: anp, edit: (o) => (o.spec.egress = [{ action: 'Drop', toServices: [{ namespace: 'prod' }] }]), path: 'spec.egress[0].toServices[0].name', fragment: 'required' },
  { title: 'toServices with an unknown scope', base: acnp, edit: (o) => (o.spec.egress[0] = { action: 'Drop', toServices: [{ name: 'web', namespace: 'prod', scope: 'Global' }] }), path: 'spec.egress[0].toServices[0].scope', fragment: 'Cluster' },
  { title: 'toServices in an ingress rule', base: acnp, edit: (o) => (o.spec.ingress[0].toServices = [{ name: 'web', namespace: 'prod' }]), path: 'spec.ingress[0].toServices', fragment: 'unknown field "toServices"' },
  { title: 'logLabel with spaces', base: acnp, edit: (o) => (o.spec.ingress[0].logLabel = 'bad label'), path: 'spec.ingress[0].logLabel', fragment: 'expected up to 63' },
  // appliedTo
  {
    title: 'appliedTo on the policy and on a rule',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].appliedTo = [{ podSelector: {} }]),
    path: 'spec.ingress[0].appliedTo',
    fragment: 'cannot be set on a rule when spec.appliedTo is set',
  },
  { title: 'appliedTo nowhere', base: acnp, edit: (o) => delete o.spec.appliedTo, path: 'spec.appliedTo', fragment: 'required: set appliedTo on the policy or on every rule' },
  {
    title: 'appliedTo on some rules only',
    base: acnp,
    edit: (o) => {
      delete o.spec.appliedTo;
      o.spec.ingress[0].appliedTo = [{ podSelector: {} }];
    },
    path: 'spec.egress[0].appliedTo',
    fragment: 'required: other rules set appliedTo',
  },
  { title: 'ipBlock in appliedTo', base: acnp, edit: (o) => (o.spec.appliedTo[0] = { ipBlock: { cidr: '10.0.0.0/8' } }), path: 'spec.appliedTo[0].ipBlock', fragment: 'ipBlock is not allowed in appliedTo' },
  { title: 'group with podSelector in appliedTo', base: acnp, edit: (o) => (o.spec.appliedTo[0].group = 'cg'), path: 'spec.appliedTo[0].group', fragment: 'group cannot be combined' },
  // ports and protocols
  {
    title: 'endPort with a named port',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].ports[0] = { protocol: 'TCP', port: 'http', endPort: 90 }),
    path: 'spec.ingress[0].ports[0].endPort',
    fragment: 'only allowed with a numeric port, got "http"',
  },
  { title: 'endPort below port', base: acnp, edit: (o) => (o.spec.ingress[0].ports[0].endPort = 80), path: 'spec.ingress[0].ports[0].endPort', fragment: 'must be >= port (8080), got 80' },
  { title: 'port above 65535', base: acnp, edit: (o) => (o.spec.ingress[0].ports[0].port = 70000), path: 'spec.ingress[0].ports[0].port', fragment: 'expected a port number 1-65535 or a port name' },
  { title: 'port name that is not an IANA service name', base: acnp, edit: (o) => (o.spec.ingress[0].ports[0].port = 'HTTP_1'), path: 'spec.ingress[0].ports[0].port', fragment: 'got "HTTP_1"' },
  { title: 'ICMP as a ports protocol', base: acnp, edit: (o) => (o.spec.ingress[0].ports[0].protocol = 'ICMP'), path: 'spec.ingress[0].ports[0].protocol', fragment: 'expected one of TCP|UDP|SCTP, got "ICMP"' },
  {
    title: 'icmpType above 255',
    base: acnp,
    edit: (o) => (o.spec.egress[0].protocols = [{ icmp: { icmpType: 300 } }]),
    path: 'spec.egress[0].protocols[0].icmp.icmpType',
    fragment: 'must be <= 255',
  },
  {
    title: 'protocols entry with both icmp and igmp',
    base: acnp,
    edit: (o) => (o.spec.egress[0].protocols = [{ icmp: {}, igmp: {} }]),
    path: 'spec.egress[0].protocols[0]',
    fragment: 'set exactly one of icmp or igmp',
  },
  {
    title: 'IGMP query type in an egress rule',
    base: acnp,
    edit: (o) => (o.spec.egress[0].protocols = [{ igmp: { igmpType: 0x11 } }]),
    path: 'spec.egress[0].protocols[0].igmp.igmpType',
    fragment: 'expected one of 18|22|34, got 17',
  },
  // peers and CIDRs
  { title: 'malformed IPv4 CIDR', base: acnp, edit: (o) => (o.spec.egress[0].to[0].ipBlock.cidr = '10.0.300.0/24'), path: 'spec.egress[0].to[0].ipBlock.cidr', fragment: 'expected a CIDR' },
  { title: 'IPv6 prefix above 128', base: acnp, edit: (o) => (o.spec.egress[0].to[0].ipBlock.cidr = 'fd00::/129'), path: 'spec.egress[0].to[0].ipBlock.cidr', fragment: 'got "fd00::/129"' },
  {
    title: 'except outside the cidr',
    base: acnp,
    edit: (o) => (o.spec.egress[0].to[0].ipBlock.except = ['10.0.11.0/25']),
    path: 'spec.egress[0].to[0].ipBlock.except[0]',
    fragment: 'not a strict subnet of cidr 10.0.10.0/24',
  },
  {
    title: 'namespaces.match with the wrong casing',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].from = [{ namespaces: { match: 'self' } }]),
    path: 'spec.ingress[0].from[0].namespaces.match',
    fragment: 'expected Self, got "self"',
  },
  {
    title: 'namespaces with namespaceSelector',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].from = [{ namespaces: { match: 'Self' }, namespaceSelector: {} }]),
    path: 'spec.ingress[0].from[0].namespaces',
    fragment: 'cannot both be set',
  },
  {
    title: 'group mixed with podSelector in a peer',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].from[0].group = 'frontends'),
    path: 'spec.ingress[0].from[0].group',
    fragment: 'group cannot be combined with podSelector',
  },
  {
    title: 'group mixed with ipBlock in a peer',
    base: acnp,
    edit: (o) => (o.spec.egress[0].to[0].group = 'third-party'),
    path: 'spec.egress[0].to[0].group',
    fragment: 'group cannot be combined with ipBlock',
  },
  // label selectors
  {
    title: 'matchExpressions operator Equals',
    base: acnp,
    edit: (o) => (o.spec.appliedTo[0].podSelector = { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['web'] }] }),
    path: 'spec.appliedTo[0].podSelector.matchExpressions[0].operator',
    fragment: 'expected one of In|NotIn|Exists|DoesNotExist, got "Equals"',
  },
  {
    title: 'In without values',
    base: acnp,
    edit: (o) => (o.spec.appliedTo[0].podSelector = { matchExpressions: [{ key: 'app', operator: 'In' }] }),
    path: 'spec.appliedTo[0].podSelector.matchExpressions[0].values',
    fragment: 'required: operator In needs at least one value',
  },
  {
    title: 'Exists with values',
    base: acnp,
    edit: (o) => (o.spec.appliedTo[0].podSelector = { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['web'] }] }),
    path: 'spec.appliedTo[0].podSelector.matchExpressions[0].values',
    fragment: 'must be empty when operator is Exists',
  },
  {
    title: 'label value with a space',
    base: acnp,
    edit: (o) => (o.spec.ingress[0].from[0].podSelector.matchLabels.role = 'front end'),
    path: 'spec.ingress[0].from[0].podSelector.matchLabels.role',
    fragment: 'invalid label value "front end"',
  },
  {
    title: 'label key with a space',
    base: acnp,
    edit: (o) => (o.spec.appliedTo[0].podSelector.matchLabels = { 'my app': 'web' }),
    path: 'spec.appliedTo[0].podSelector.matchLabels["my app"]',
    fragment: 'invalid label key "my app"',
  },
  // Antrea NetworkPolicy
  { title: 'ANP without priority', base: anp, edit: (o) => delete o.spec.priority, path: 'spec.priority', fragment: 'required' },
  {
    title: 'ANP appliedTo with namespaceSelector',
    base: anp,
    edit: (o) => (o.spec.appliedTo[0].namespaceSelector = {}),
    path: 'spec.appliedTo[0].namespaceSelector',
    fragment: 'not allowed in the appliedTo of an Antrea NetworkPolicy',
  },
  { title: 'ANP peer with namespaces', base: anp, edit: (o) => (o.spec.ingress[0].from = [{ namespaces: { match: 'Self' } }]), path: 'spec.ingress[0].from[0].namespaces', fragment: 'unknown field "namespaces"' },
  // Kubernetes NetworkPolicy
  { title: 'K8s rule with an action', base: netpol, edit: (o) => (o.spec.ingress[0].action = 'Pass'), path: 'spec.ingress[0].action', fragment: 'unknown field "action"' },
  { title: 'K8s policy with a priority', base: netpol, edit: (o) => (o.spec.priority = 5), path: 'spec.priority', fragment: 'unknown field "priority"' },
  {
    title: 'K8s peer mixing ipBlock and podSelector',
    base: netpol,
    edit: (o) => (o.spec.ingress[0].from[0].podSelector = {}),
    path: 'spec.ingress[0].from[0].ipBlock',
    fragment: 'cannot be combined with podSelector or namespaceSelector',
  },
  { title: 'K8s empty peer', base: netpol, edit: (o) => (o.spec.ingress[0].from = [{}]), path: 'spec.ingress[0].from[0]', fragment: 'a peer needs podSelector, namespaceSelector or ipBlock' },
  { title: 'K8s policyTypes value', base: netpol, edit: (o) => (o.spec.policyTypes = ['All']), path: 'spec.policyTypes[0]', fragment: 'expected one of Ingress|Egress, got "All"' },
  {
    title: 'K8s endPort with a named port',
    base: netpol,
    edit: (o) => (o.spec.egress[0].ports[0] = { port: 'dns', endPort: 60 }),
    path: 'spec.egress[0].ports[0].endPort',
    fragment: 'only allowed with a numeric port',
  },
  {
    title: 'K8s except that equals the cidr',
    base: netpol,
    edit: (o) => (o.spec.ingress[0].from[0].ipBlock.except = ['172.17.0.0/16']),
    path: 'spec.ingress[0].from[0].ipBlock.except[0]',
    fragment: 'not a strict subnet',
  },
  { title: 'K8s port 0', base: netpol, edit: (o) => (o.spec.ingress[0].ports[0].port = 0), path: 'spec.ingress[0].ports[0].port', fragment: 'got 0' },
  // Tier
  { title: 'Tier priority above 255', base: tier, edit: (o) => (o.spec.priority = 300), path: 'spec.priority', fragment: 'must be <= 255' },
  { title: 'Tier priority not an integer', base: tier, edit: (o) => (o.spec.priority = 1.5), path: 'spec.priority', fragment: 'expected integer' },
  { title: 'custom Tier at priority 250', base: tier, edit: (o) => (o.spec.priority = 250), path: 'spec.priority', fragment: 'a custom tier needs a priority below 250' },
  {
    title: 'static Tier with another priority',
    base: tier,
    edit: (o) => ((o.metadata.name = 'application'), (o.spec.priority = 100)),
    path: 'spec.priority',
    fragment: 'static tier application has priority 250, got 100',
  },
  // ClusterGroup
  {
    title: 'ClusterGroup with podSelector and ipBlocks',
    base: clusterGroup,
    edit: (o) => (o.spec.ipBlocks = [{ cidr: '10.0.0.0/24' }]),
    path: 'spec.ipBlocks',
    fragment: 'cannot be set together with podSelector',
  },
  { title: 'ClusterGroup ipBlocks CIDR', base: clusterGroup, edit: (o) => (o.spec = { ipBlocks: [{ cidr: '10.0.0.0' }] }), path: 'spec.ipBlocks[0].cidr', fragment: 'expected a CIDR' },
  // Traceflow
  { title: 'Traceflow droppedOnly without liveTraffic', base: traceflow, edit: (o) => (o.spec.droppedOnly = true), path: 'spec.droppedOnly', fragment: 'only allowed with liveTraffic: true' },
  {
    title: 'Traceflow source IP without liveTraffic',
    base: traceflow,
    edit: (o) => (o.spec.source = { ip: '10.0.0.1' }),
    path: 'spec.source.ip',
    fragment: 'a source IP is only allowed with liveTraffic: true',
  },
  { title: 'Traceflow without a source pod', base: traceflow, edit: (o) => delete o.spec.source, path: 'spec.source.pod', fragment: 'required' },
  { title: 'Traceflow timeout above 300', base: traceflow, edit: (o) => (o.spec.timeout = 301), path: 'spec.timeout', fragment: 'must be <= 300' },
  { title: 'Traceflow destination pod and ip', base: traceflow, edit: (o) => (o.spec.destination.ip = '10.0.0.2'), path: 'spec.destination.ip', fragment: 'cannot be set together with destination.pod' },
  // Egress and ExternalIPPool
  { title: 'Egress with neither egressIP nor pool', base: egress, edit: (o) => delete o.spec.egressIP, path: 'spec.egressIP', fragment: 'required: set egressIP, externalIPPool' },
  { title: 'Egress with a bad egressIP', base: egress, edit: (o) => (o.spec.egressIP = '10.10.0.256'), path: 'spec.egressIP', fragment: 'expected an IPv4 or IPv6 address' },
  { title: 'ExternalIPPool range with start after end', base: pool, edit: (o) => (o.spec.ipRanges[0].end = '10.10.0.1'), path: 'spec.ipRanges[0].end', fragment: 'must not be below start (10.10.0.2)' },
  {
    title: 'ExternalIPPool range with cidr and start',
    base: pool,
    edit: (o) => (o.spec.ipRanges[0].cidr = '10.10.0.0/28'),
    path: 'spec.ipRanges[0].start',
    fragment: 'set either cidr or start/end',
  },
  { title: 'ExternalIPPool without nodeSelector', base: pool, edit: (o) => delete o.spec.nodeSelector, path: 'spec.nodeSelector', fragment: 'required' },
  // kind resolution
  {
    title: 'known kind under an unknown apiVersion',
    base: acnp,
    edit: (o) => (o.apiVersion = 'crd.antrea.io/v2'),
    path: '',
    fragment: 'unknown kind "ClusterNetworkPolicy" (apiVersion crd.antrea.io/v2); ClusterNetworkPolicy is served as crd.antrea.io/v1alpha1|crd.antrea.io/v1beta1',
  },
];

describe('api: invalid manifests name the offending field', () => {
  it('has at least 30 cases', () => {
    if (cases.length < 30) throw new Error(`only ${cases.length} cases`);
  });
  for (const c of cases) {
    it(`${c.title} → ${c.path || '(object)'}`, () => expectProblem(variant(c.base, c.edit), c.path, c.fragment));
  }
});
