// The box side of Egress as data: the iptables chain and the EgressMark flows.
import assert from 'node:assert/strict';
import { egressFlows } from '../../../src/agent/egress/flows.js';
import { natRestoreInput } from '../../../src/agent/egress/snat-rules.js';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';

describe('egress SNAT chain', () => {
  it('returns for cluster destinations, SNATs selected pods to their Egress IP, masquerades the rest of the box pods', () => {
    const text = natRestoreInput({
      podCIDR: '10.42.0.0/24',
      clusterCIDRs: ['10.96.0.0/12', '10.42.1.0/24', '10.42.0.0/24'],
      snat: [{ podIP: '10.42.1.5', egressIP: '172.31.250.200', egress: 'web' }, { podIP: '10.42.0.3', egressIP: '172.31.250.200', egress: 'web' }],
    });
    assert.deepEqual(text.trim().split('\n'), [
      '*nat',
      ':SEINE-POSTROUTING - [0:0]',
      '-A SEINE-POSTROUTING -d 10.42.0.0/24 -j RETURN',
      '-A SEINE-POSTROUTING -d 10.42.1.0/24 -j RETURN',
      '-A SEINE-POSTROUTING -d 10.96.0.0/12 -j RETURN',
      '-A SEINE-POSTROUTING -s 10.42.0.3/32 -m comment --comment "egress web" -j SNAT --to-source 172.31.250.200',
      '-A SEINE-POSTROUTING -s 10.42.1.5/32 -m comment --comment "egress web" -j SNAT --to-source 172.31.250.200',
      '-A SEINE-POSTROUTING -s 10.42.0.0/24 -m comment --comment "pods to outside: box IP" -j MASQUERADE',
      'COMMIT',
    ]);
  });
});

describe('EgressMark flows', () => {
  const pipeline = Pipeline.build();
  const cookies = new CookieAllocator(1);

  it('none without a remote egress node (the L3Forwarding miss stays as it is)', () => {
    assert.deepEqual(egressFlows([], 'aa:aa:aa:aa:aa:aa', pipeline, cookies), []);
  });

  it('sends non-reply traffic of local pods to EgressMark, tunnels the selected ones to the egress node', () => {
    const flows = egressFlows([{ egress: 'Egress.crd.antrea.io//web', podIP: '10.42.0.3', egressNodeIP: '172.31.250.12' }], '02:00:00:00:00:01', pipeline, cookies);
    const text = flows.map((f) => `${f.table} ${f.priority} ${f.match.join(',')} -> ${f.actions.join(',')}`);
    assert.deepEqual(text, [
      `L3Forwarding 180 ip,ct_state=-rpl+trk,reg0=0x3/0xf -> goto_table:${pipeline.id('EgressMark')}`,
      `EgressMark 190 ip -> set_field:0x20/0xf0->reg0,goto_table:${pipeline.id('L2ForwardingCalc')}`,
      `EgressMark 200 ip,nw_src=10.42.0.3 -> set_field:02:00:00:00:00:01->eth_src,set_field:aa:bb:cc:dd:ee:ff->eth_dst,set_field:172.31.250.12->tun_dst,set_field:0x10/0xf0->reg0,goto_table:${pipeline.id('L3DecTTL')}`,
    ]);
  });
});
