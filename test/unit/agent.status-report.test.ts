/** `vxmesh status`: the report from what the agent read, and its screen. */
import t from 'tap';
import { statusReport } from '../../agent/status-report.js';
import { renderStatus } from '../../cli/commands/status.js';
import type { MemberView } from '../../discovery/views.js';

const member = (
  name: string,
  state: MemberView['state'],
  proto: number,
  self = false,
  version: string | null = '0.1.0',
): MemberView => ({
  ...(version !== null ? { version } : {}),
  name,
  peerId: `peer-${name}`,
  vtep: `198.51.100.${name.length}`,
  addrs: [],
  incarnation: 1,
  state,
  proto,
  vtepOrder: 0,
  since: 0,
  lastAck: 0,
  self,
});

t.test('members by state, networks with drift, and the warnings an operator acts on', async (t) => {
  const r = statusReport({
    version: '0.1.0',
    name: 'h1',
    peerId: '12D3KooWabcdefgh',
    vtep: '198.51.100.11',
    overlayMtu: 1450,
    underlay: { dev: 'eth0', mtu: 1500 },
    initialSyncDone: true,
    generation: 3,
    members: [
      member('h1', 'alive', 3, true),
      member('h2', 'alive', 2, false, null),
      member('h5', 'alive', 3, false, '0.2.0'),
      member('h3', 'suspect', 3),
      member('h4', 'dead', 3),
    ],
    fdb: [
      { network: 'blue', vni: 10, netns: 'vx-10', rows: [], drift: 0 },
      { network: 'sec', vni: 11, netns: 'vx-11', rows: [], drift: 2 },
    ],
    encrypted: new Set(['sec']),
    localEndpoints: 3,
    lastReconcileMs: 1.234,
    wireguardError: 'wg is missing: install the Debian package wireguard-tools',
    hostWarnings: ['wireguard-go is missing (Debian package wireguard-go): encrypted networks fail on this host'],
  });
  t.same(r.membersByState, { alive: 3, suspect: 1, dead: 1, left: 0 });
  t.same(r.underlay, { dev: 'eth0', mtu: 1500 });
  t.same(r.networks, [
    { name: 'blue', vni: 10, encrypted: false, drift: 0 },
    { name: 'sec', vni: 11, encrypted: true, drift: 2 },
  ]);
  t.same(r.warnings, [
    'members of an older release are live (h2: generation 2): finish the upgrade',
    "members run another version than this agent's 0.1.0 (h2: before 0.2, h5: 0.2.0): a rolling upgrade is not finished",
    'member h3 (198.51.100.2) is suspect: not answering probes',
    'network sec: 2 differences from the desired state (vxmesh fdb sec --check)',
    'WireGuard: wg is missing: install the Debian package wireguard-tools',
    'wireguard-go is missing (Debian package wireguard-go): encrypted networks fail on this host',
  ]);
  const screen = renderStatus(r);
  t.match(screen, /^vxmesh 0\.1\.0 {2}h1 {2}VTEP 198\.51\.100\.11 {2}underlay eth0 MTU 1500 {2}overlay MTU 1450/);
  t.match(screen, /members: 3 alive, 1 suspect, 1 dead, 0 left; first sync done/);
  t.match(screen, /sec\s+11\s+encrypted\s+2/);
  t.match(screen, /warnings:\n {2}- members of an older release/);
  const calm = statusReport({
    ...{ version: '0.1.0', name: 'h1', peerId: 'p', vtep: 'v', overlayMtu: 1450, underlay: null },
    initialSyncDone: false,
    generation: 3,
    members: [],
    fdb: [],
    encrypted: new Set(),
    localEndpoints: 0,
    lastReconcileMs: 0,
  });
  t.same(calm.warnings, ['no member answered yet: entries are added but none removed until the first sync']);
});
