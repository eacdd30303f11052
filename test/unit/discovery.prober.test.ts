/** The probe round: every live member once per round, and a member that joins mid-round within it. */
import t from 'tap';
import { DEFAULT_TIMERS, emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import { Membership } from '../../discovery/membership.js';
import type { VxmeshLibp2p } from '../../discovery/node.js';
import { Prober } from '../../discovery/prober.js';
import type { UdpProbe } from '../../discovery/udp-probe.js';
import type { ReplicatedTable } from '../../discovery/table.js';
import type { Logger } from '../../core/logger.js';
import { Interests } from '../../discovery/interests.js';

const id = (c: string) => `12D3KooW${c.repeat(44)}`;
const info = (c: string) => ({
  peerId: id(c),
  name: `h${c}`,
  vtep: `198.51.100.${c.charCodeAt(0)}`,
  addrs: [`198.51.100.${c.charCodeAt(0)}:7946`],
  incarnation: 1,
});
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as Logger;

function setup(members: string, proto?: number) {
  const membership = new Membership(info('A'), DEFAULT_TIMERS);
  for (const c of members) membership.alive({ ...info(c), ...(proto ? { proto } : {}) });
  const pinged: string[] = [];
  const udpPinged: string[] = [];
  const udp = {
    ping: async (m: { peerId: string }) => {
      udpPinged.push(m.peerId);
      return true;
    },
    pingReq: async () => true,
  } as unknown as UdpProbe;
  // Every ping answers: the target is the last path segment of the first dial address (/p2p/<id>).
  const node = {
    services: {
      ping: {
        ping: async (target: unknown) => {
          pinged.push(
            String(Array.isArray(target) ? target[0] : target)
              .split('/')
              .pop() ?? '',
          );
          return 1;
        },
      },
    },
  } as unknown as VxmeshLibp2p;
  const ctx: DiscoveryContext = {
    interests: new Interests(() => []),
    peerId: id('A'),
    membership,
    table: {} as ReplicatedTable,
    stats: emptyStats(),
    timers: DEFAULT_TIMERS,
    log: quiet,
    node: () => node,
    stopped: () => false,
  };
  return { membership, pinged, udpPinged, prober: new Prober(ctx, () => undefined, udp) };
}

t.test('one round probes every live member once', async (t) => {
  const { pinged, prober } = setup('BCDEFGHIJ');
  for (let k = 0; k < 9; k++) await prober.probeNext();
  t.same([...pinged].sort(), [...'BCDEFGHIJ'].map(id).sort());
  t.end();
});

t.test('a member that joins during a round is probed within that round', async (t) => {
  // Repeated: the joiner lands at a random place in what is left of the round.
  for (let trial = 0; trial < 20; trial++) {
    const { membership, pinged, prober } = setup('BCDEFGHIJ');
    await prober.probeNext();
    await prober.probeNext();
    membership.alive(info('K'));
    for (let k = 0; k < 8; k++) await prober.probeNext();
    t.ok(pinged.includes(id('K')), `trial ${trial}: the joiner was probed before the round ended`);
    t.equal(new Set(pinged).size, 10, `trial ${trial}: nobody twice, nobody left out`);
    membership.stop();
  }
  t.end();
});

t.test('members of this release are probed over UDP, members of the previous release with a libp2p ping', async (t) => {
  const now = setup('BCD', 2);
  for (let k = 0; k < 3; k++) await now.prober.probeNext();
  t.same([...now.udpPinged].sort(), [...'BCD'].map(id).sort(), 'UDP probes');
  t.same(now.pinged, [], 'no libp2p ping');
  now.membership.stop();
  const before = setup('BCD');
  for (let k = 0; k < 3; k++) await before.prober.probeNext();
  t.same(before.udpPinged, [], 'no UDP probe to the previous release');
  t.equal(before.pinged.length, 3, 'libp2p pings');
  before.membership.stop();
  t.end();
});

t.test('local health: failed probes lengthen the timeouts, answered ones shorten them again', async (t) => {
  const membership = new Membership(info('A'), DEFAULT_TIMERS);
  for (const c of 'BCDE') membership.alive({ ...info(c), proto: 2 });
  let answer = false;
  const timeouts: number[] = [];
  const udp = {
    ping: async (_m: unknown, timeoutMs: number) => {
      timeouts.push(timeoutMs);
      return answer;
    },
    pingReq: async () => answer,
  } as unknown as UdpProbe;
  const ctx: DiscoveryContext = {
    interests: new Interests(() => []),
    peerId: id('A'),
    membership,
    table: {} as ReplicatedTable,
    stats: emptyStats(),
    timers: DEFAULT_TIMERS,
    log: quiet,
    node: () => ({}) as VxmeshLibp2p,
    stopped: () => false,
  };
  const prober = new Prober(ctx, () => undefined, udp);
  await prober.probe(id('B'));
  t.equal(prober.localHealth, 1, 'a failed probe raises it');
  prober.noteRefuted();
  t.equal(prober.localHealth, 2, 'refuting a suspicion about ourselves raises it');
  timeouts.length = 0;
  answer = true;
  await prober.probe(id('C'));
  t.equal(timeouts[0], DEFAULT_TIMERS.probeTimeoutMs * 3, 'the next probe waits 3 times as long');
  t.equal(prober.localHealth, 1, 'an answered probe lowers it');
  membership.stop();
  prober.stop();
});
