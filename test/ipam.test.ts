/** IPAM without a central store: block claims, the settle period, conflicts, explicit addresses. */
import t from 'tap';
import { Ipam, blocksOf, type BlockClaim, type EndpointUse, type IpamSource } from '../agent/ipam.js';
import type { NetworkValue } from '../discovery/wire.js';

/** A shared "replicated table" for several hosts, with a Lamport clock, delivered instantly. */
class World {
  claims: BlockClaim[] = [];
  endpoints: EndpointUse[] = [];
  clock = 0;
  /** Claims written by a host become visible to others only after `delay` calls to deliver(). */
  source(self: string): IpamSource {
    return {
      self,
      claims: () => this.claims,
      endpointsUsing: (network) => this.endpoints.filter((e) => e.network === network),
      claim: async (network, block) => {
        this.claims.push({ network, block, owner: self, lamport: ++this.clock });
      },
      release: async (network, block) => {
        this.claims = this.claims.filter((c) => !(c.owner === self && c.network === network && c.block === block));
      },
    };
  }
}

const net: NetworkValue = { name: 'n', vni: 7, subnet: '198.18.0.0/26', gateway: '198.18.0.1' };
const noSleep = async () => undefined;

t.test('blocks of a subnet', async (t) => {
  t.same(blocksOf('198.18.0.0/26'), ['198.18.0.0/28', '198.18.0.16/28', '198.18.0.32/28', '198.18.0.48/28']);
  t.same(blocksOf('198.18.0.0/29'), ['198.18.0.0/29'], 'a subnet smaller than a block is one block');
});

t.test('allocations of two hosts never collide; gateway, network and broadcast are reserved', async (t) => {
  const w = new World();
  const a = new Ipam(w.source('A'), 0, Date.now, noSleep);
  const b = new Ipam(w.source('B'), 0, Date.now, noSleep);
  const got: string[] = [];
  const take = async (host: string, ipam: Ipam) => {
    const ip = await ipam.allocate(net);
    w.endpoints.push({ network: 'n', ip, id: `${host}${got.length}`, host });
    ipam.settle(ip);
    got.push(ip);
  };
  // 25 each always fits: a host holds two of the four /28 blocks, at least 14 + 15 usable addresses.
  for (let i = 0; i < 25; i++) {
    await take('A', a);
    await take('B', b);
  }
  t.equal(new Set(got).size, 50, '50 unique addresses');
  t.notOk(got.includes('198.18.0.1') || got.includes('198.18.0.0') || got.includes('198.18.0.63'), 'reserved addresses never handed out');
  // Then A fills its blocks; with every block claimed, the next allocation is an error, never a duplicate.
  let error = '';
  for (let i = 0; i < 40 && !error; i++) await take('A', a).catch((e: Error) => (error = e.message));
  t.match(error, /no free address block left/, 'exhaustion is an error');
  t.equal(new Set(got).size, got.length, `still all unique (${got.length} handed out of 61 usable)`);
});

t.test('two hosts claim the same block: the earlier claim wins, the other moves on', async (t) => {
  const w = new World();
  // Host B claimed block .16 first (lamport 1); host A then claims it too (lamport 2) because it picked it.
  w.claims.push({ network: 'n', block: '198.18.0.16/28', owner: 'B', lamport: ++w.clock });
  const conflicts: string[] = [];
  const srcA = w.source('A');
  // A believes nothing is claimed when it picks (stale view), then sees B's claim after settling.
  const hidden = w.claims.splice(0);
  let first = true;
  const a = new Ipam(
    { ...srcA, claims: () => (first ? [] : w.claims) },
    0,
    Date.now,
    async () => {
      if (first) {
        w.claims.unshift(...hidden);
        first = false;
      }
    },
    (c) => conflicts.push(`${c.block} kept by ${c.winner}`),
  );
  const original = Math.random;
  Math.random = () => 0.3; // picks the second block (.16) among four
  try {
    const ip = await a.allocate(net);
    t.notOk(ip.startsWith('198.18.0.1') && Number(ip.split('.')[3]) >= 16 && Number(ip.split('.')[3]) < 32, `A did not allocate from B's block (${ip})`);
  } finally {
    Math.random = original;
  }
  t.same(conflicts, ['198.18.0.16/28 kept by B'], 'the conflict is reported');
  t.notOk(w.claims.some((c) => c.owner === 'A' && c.block === '198.18.0.16/28'), "A withdrew its losing claim");
  t.same(a.conflicts('n'), [], 'no standing conflict once A withdrew');
});

t.test('no address before the settle period', async (t) => {
  const w = new World();
  let now = 1000;
  const slept: number[] = [];
  const a = new Ipam(w.source('A'), 1500, () => now, async (ms) => {
    slept.push(ms);
    now += ms;
  });
  await a.allocate(net);
  t.same(slept, [1500], 'waited for the settle period before using the new block');
  t.equal(a.settledBlocks('n').length, 1);
});

t.test('explicit addresses are checked against the whole cluster', async (t) => {
  const w = new World();
  w.endpoints.push({ network: 'n', ip: '198.18.0.20', id: 'x1', host: 'hostB' });
  const a = new Ipam(w.source('A'), 0, Date.now, noSleep);
  t.throws(() => a.checkExplicit(net, '198.18.0.20'), /ip: 198\.18\.0\.20 is in use by endpoint x1 on host hostB/);
  t.throws(() => a.checkExplicit(net, '198.18.0.1'), /gateway/);
  t.throws(() => a.checkExplicit(net, '198.18.1.5'), /not a usable host address/);
  t.doesNotThrow(() => a.checkExplicit(net, '198.18.0.21'));
});
