/** The fdb report (`vxmesh fdb`, `--check`): kernel tables beside the desired remotes, IPv6 neighbours included. */
import t from 'tap';
import { compareTables } from '../../agent/diagnostics.js';
import type { NetworkView } from '../../agent/agent.js';
import type { RemoteEndpoint } from '../../dataplane/dataplane.js';
import { NUD_PERMANENT } from '../../dataplane/netlink/constants.js';

const net = { name: 'blue', vni: 40, subnet: '198.18.40.0/24', endpoints: 2, localEndpoints: 1 } as NetworkView;
const want: RemoteEndpoint[] = [
  { mac: '02:00:00:00:00:02', ip: '198.18.40.12', ip6: '2001:db8:40::12', vtep: '198.51.100.12' },
];
const fdb = [
  { mac: '02:00:00:00:00:02', dst: '198.51.100.12', self: true, master: false, state: NUD_PERMANENT, ifindex: 5 },
];
const nb = (ip: string, mac = '02:00:00:00:00:02') => ({ ip, mac, state: NUD_PERMANENT, ifindex: 5 });
const report = (neighbours: ReturnType<typeof nb>[]) =>
  compareTables(net, { vni: 40, netns: 'vx-40', vxlanIndex: 5, fdb, neighbours }, want, () => 'h2');

t.test('an endpoint with an IPv6 address has an IPv6 neighbour row', async (t) => {
  const ok = report([nb('198.18.40.12'), nb('2001:db8:40::12')]);
  t.equal(ok.drift, 0, 'both neighbours in place: no drift');
  t.same(
    ok.rows.filter((r) => r.table === 'neigh').map((r) => [r.ip, r.status]),
    [
      ['198.18.40.12', 'ok'],
      ['2001:db8:40::12', 'ok'],
    ],
  );
  const missing = report([nb('198.18.40.12')]);
  t.equal(missing.drift, 1, 'the IPv6 neighbour missing: drift');
  t.match(
    missing.rows.find((r) => r.ip === '2001:db8:40::12'),
    { status: 'missing' },
  );
  const wrong = report([nb('198.18.40.12'), nb('2001:db8:40::12', '02:00:00:00:00:99')]);
  t.match(
    wrong.rows.find((r) => r.ip === '2001:db8:40::12'),
    { status: 'wrong-mac' },
  );
  const stale = report([nb('198.18.40.12'), nb('2001:db8:40::12'), nb('2001:db8:40::99', '02:00:00:00:00:09')]);
  t.match(
    stale.rows.find((r) => r.ip === '2001:db8:40::99'),
    { status: 'stale' },
    'an IPv6 entry nobody wants',
  );
  t.equal(stale.drift, 1);
});
