import assert from 'node:assert/strict';
import { UserError } from '../../../src/lib/errors.js';
import { applyLabelChanges, parseLabelChanges, parseLabels, parsePodRef, parsePorts } from '../../../src/lab/labels.js';

const userError = (re: RegExp) => (err: unknown) => err instanceof UserError && re.test(err.message) && !err.message.includes('\n');

describe('lab labels, pod refs and ports', () => {
  it('parses k=v lists, including prefixed keys and empty values', () => {
    assert.deepEqual(parseLabels(''), {});
    assert.deepEqual(parseLabels('app=web, tier=fe,example.com/team=a,empty='), { app: 'web', tier: 'fe', 'example.com/team': 'a', empty: '' });
  });

  it('rejects bad label syntax with the offending text', () => {
    assert.throws(() => parseLabels('app'), userError(/bad label 'app'/));
    assert.throws(() => parseLabels('a b=c'), userError(/label key 'a b'/));
    assert.throws(() => parseLabels('app=we b'), userError(/label value 'we b'/));
    assert.throws(() => parseLabels(`k=${'v'.repeat(64)}`), userError(/label value/));
    assert.throws(() => parseLabels('-app=x'), userError(/label key/));
    assert.throws(() => parseLabels('Bad_Prefix/x=y'), userError(/invalid prefix/));
    assert.throws(() => parseLabels('=x'), userError(/label key ''/));
  });

  it('parses kubectl-style label edits and applies them', () => {
    const changes = parseLabelChanges(['app=db', 'tier-', 'x=1,y-']);
    assert.deepEqual(changes, [{ key: 'app', value: 'db' }, { key: 'tier', remove: true }, { key: 'x', value: '1' }, { key: 'y', remove: true }]);
    assert.deepEqual(applyLabelChanges({ app: 'web', tier: 'fe', y: 'z' }, changes), { app: 'db', x: '1' });
    assert.throws(() => parseLabelChanges([]), userError(/no label/));
    assert.throws(() => parseLabelChanges(['app']), userError(/expected key=value or key-/));
  });

  it('parses ns/pod references', () => {
    assert.deepEqual(parsePodRef('default/web-1'), { namespace: 'default', name: 'web-1' });
    for (const bad of ['web', 'a/b/c', '/web', 'default/', 'Default/web', 'default/web_1']) assert.throws(() => parsePodRef(bad), userError(/./), bad);
  });

  it('parses name=port/proto lists', () => {
    assert.deepEqual(parsePorts('http=80/tcp, dns=53/UDP,grpc=9090'), [
      { name: 'http', port: 80, protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'grpc', port: 9090, protocol: 'TCP' },
    ]);
    assert.throws(() => parsePorts('http=0/TCP'), userError(/1\.\.65535/));
    assert.throws(() => parsePorts('http=80/ICMP'), userError(/TCP, UDP or SCTP/));
    assert.throws(() => parsePorts('80/TCP'), userError(/name=port\/proto/));
    assert.throws(() => parsePorts('a=1,a=2'), userError(/duplicate/));
    assert.throws(() => parsePorts('123=80'), userError(/letter/));
  });
});
