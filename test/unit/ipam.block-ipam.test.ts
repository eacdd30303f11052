/** IPAM without a central store: block claims, the settle period, conflicts, explicit addresses. */
import t from 'tap';
import { World } from '../fixtures/ipam-world.js';
import { Ipam, blocksOf, type BlockClaim } from '../../ipam/block-ipam.js';
import type { NetworkValue } from '../../core/records.js';
import { StoreIpam } from '../../ipam/store-ipam.js';

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
    ipam.settle(net.name, ip);
    got.push(ip);
  };
  // 25 each always fits: a host holds two of the four /28 blocks, at least 14 + 15 usable addresses.
  for (let i = 0; i < 25; i++) {
    await take('A', a);
    await take('B', b);
  }
  t.equal(new Set(got).size, 50, '50 unique addresses');
  t.notOk(
    got.includes('198.18.0.1') || got.includes('198.18.0.0') || got.includes('198.18.0.63'),
    'reserved addresses never handed out',
  );
  // Then A fills its blocks, borrows B's free addresses, and only a full subnet is an error.
  let error = '';
  for (let i = 0; i < 40 && !error; i++) await take('A', a).catch((e: Error) => (error = e.message));
  t.match(error, /n \(198\.18\.0\.0\/26\) has no free address left/, 'exhaustion is an error');
  t.equal(got.length, 61, 'every usable address of the /26 was handed out (64 minus network, broadcast, gateway)');
  t.equal(new Set(got).size, got.length, 'all unique');
  t.ok(
    w.claims.some((c) => c.owner === 'A' && c.block.endsWith('/32')),
    'A borrowed single addresses from B',
  );
});

t.test('more hosts than blocks: every host gets addresses, block owners skip borrowed ones', async (t) => {
  const w = new World();
  const small: NetworkValue = { name: 's', vni: 8, subnet: '198.18.1.0/28', gateway: '198.18.1.1' };
  t.same(blocksOf(small.subnet as string), ['198.18.1.0/28'], 'a /28 subnet is one block');
  const hosts = ['A', 'B', 'C'].map((h) => ({ h, ipam: new Ipam(w.source(h), 0, Date.now, noSleep) }));
  const got: Array<{ h: string; ip: string }> = [];
  for (let round = 0; round < 4; round++) {
    for (const { h, ipam } of hosts) {
      const ip = await ipam.allocate(small);
      w.endpoints.push({ network: 's', ip, id: `${h}${round}`, host: h });
      ipam.settle(small.name, ip);
      got.push({ h, ip });
    }
  }
  t.equal(new Set(got.map((g) => g.ip)).size, 12, '12 unique addresses for 3 hosts from a single block');
  const owner = w.claims.find((c) => c.block === '198.18.1.0/28')?.owner;
  const borrowed = w.claims.filter((c) => c.block.endsWith('/32'));
  t.equal(borrowed.length, 8, 'the two other hosts borrowed one /32 per address');
  t.ok(
    borrowed.every((c) => c.owner !== owner),
    'never from the block owner',
  );
  t.ok(
    borrowed.every((c) => got.some((g) => g.h === c.owner && `${g.ip}/32` === c.block)),
    'each borrow claim matches the address its host got',
  );
  // Giving an address back withdraws the /32; an address of an own block is not "returned".
  const lent = borrowed[0] as BlockClaim;
  const lender = hosts.find((x) => x.h === lent.owner)!.ipam;
  w.endpoints = w.endpoints.filter((e) => `${e.ip}/32` !== lent.block);
  await lender.returnAddress('s', lent.block.replace('/32', ''));
  t.notOk(
    w.claims.some((c) => c.block === lent.block),
    'the /32 claim is withdrawn when its endpoint goes',
  );
  const ownerIpam = hosts.find((x) => x.h === owner)!.ipam;
  const ownIp = got.find((g) => g.h === owner)!.ip;
  await ownerIpam.returnAddress('s', ownIp);
  t.ok(
    w.claims.some((c) => c.block === '198.18.1.0/28' && c.owner === owner),
    'the owner keeps its block',
  );
});

t.test('a borrowed address taken by its block owner during the settle period is given up', async (t) => {
  const w = new World();
  const small: NetworkValue = { name: 's', vni: 8, subnet: '198.18.1.0/29', gateway: '198.18.1.1' };
  w.claims.push({ network: 's', block: '198.18.1.0/29', owner: 'B', lamport: ++w.clock });
  const conflicts: string[] = [];
  let raced = false;
  // While A waits, B (not yet seeing A's /32) hands the same address to one of its endpoints.
  const a = new Ipam(
    w.source('A'),
    1000,
    Date.now,
    async () => {
      if (raced) return;
      raced = true;
      const mine = w.claims.find((c) => c.owner === 'A' && c.block.endsWith('/32'))!;
      w.endpoints.push({ network: 's', ip: mine.block.replace('/32', ''), id: 'b1', host: 'B' });
    },
    (c) => conflicts.push(`${c.block} ${c.winner}`),
  );
  const original = Math.random;
  Math.random = () => 0; // the first offer: the highest free address
  let ip: string;
  try {
    ip = await a.allocate(small);
  } finally {
    Math.random = original;
  }
  t.same(conflicts, ['198.18.1.6/32 B'], 'the first borrow (the highest address) lost to the owner and was reported');
  t.equal(ip, '198.18.1.5', 'A borrowed the next free address instead');
  t.same(
    w.claims.filter((c) => c.owner === 'A').map((c) => c.block),
    ['198.18.1.5/32'],
    'only the winning /32 claim remains',
  );
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
    t.notOk(
      ip.startsWith('198.18.0.1') && Number(ip.split('.')[3]) >= 16 && Number(ip.split('.')[3]) < 32,
      `A did not allocate from B's block (${ip})`,
    );
  } finally {
    Math.random = original;
  }
  t.same(conflicts, ['198.18.0.16/28 kept by B'], 'the conflict is reported');
  t.notOk(
    w.claims.some((c) => c.owner === 'A' && c.block === '198.18.0.16/28'),
    'A withdrew its losing claim',
  );
  t.same(a.conflicts('n'), [], 'no standing conflict once A withdrew');
});

t.test('no address before the settle period', async (t) => {
  const w = new World();
  let now = 1000;
  const slept: number[] = [];
  const a = new Ipam(
    w.source('A'),
    1500,
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
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

t.test('two hosts ask for one explicit address at once: one gets it, the other is refused naming ip', async (t) => {
  const w = new World();
  // The settle period: both claims are written before either host looks again.
  const settle = () => new Promise<void>((r) => setTimeout(r, 10));
  const a = new Ipam(w.source('A'), 10, Date.now, settle);
  const b = new Ipam(w.source('B'), 10, Date.now, settle);
  const results = await Promise.allSettled([
    a.reserveExplicit(net, '198.18.0.50'),
    b.reserveExplicit(net, '198.18.0.50'),
  ]);
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.equal(won.length, 1, 'exactly one host got it');
  t.equal(lost.length, 1);
  t.match(lost[0]?.reason, { name: 'ValidationError', field: 'ip' });
  t.match(String(lost[0]?.reason), /claimed at the same time by another host/);
  t.same(
    w.claims.map((c) => `${c.owner} ${c.block}`),
    [`${results[0]?.status === 'fulfilled' ? 'A' : 'B'} 198.18.0.50/32`],
    "only the winner's /32 claim stands",
  );
  t.equal(results[0]?.status, 'fulfilled', 'the earlier claim (smaller Lamport time) won');
});

t.test(
  'an explicit address in a settled block of this host needs no extra claim; returning it releases a /32',
  async (t) => {
    const w = new World();
    const a = new Ipam(w.source('A'), 0, Date.now, noSleep);
    const first = await a.allocate(net);
    const block = w.claims[0]?.block ?? '';
    const inBlock = `198.18.0.${Number(first.split('.')[3]) + 1}`;
    await a.reserveExplicit(net, inBlock);
    t.same(
      w.claims.map((c) => c.block),
      [block],
      'no /32 for an address of our own block',
    );
    // An address of another block (the blocks are /28: .0, .16, .32, .48).
    const outside = `198.18.0.${(Number(block.split('.')[3]?.split('/')[0]) + 16 + 12) % 64}`;
    await a.reserveExplicit(net, outside);
    t.same(
      w.claims.map((c) => c.block).sort(),
      [block, `${outside}/32`].sort(),
      `an address outside our blocks (${outside}) is claimed as a /32`,
    );
    a.settle(net.name, outside);
    await a.returnAddress('n', outside);
    t.same(
      w.claims.map((c) => c.block),
      [block],
      'returned: the /32 claim is withdrawn',
    );
  },
);

t.test(
  'a block claimed ahead (network created here): the first address waits only what is left of the settle period',
  async (t) => {
    const w = new World();
    let now = 1_000_000;
    const slept: number[] = [];
    // Time passes only for the waits of allocate(): the check prepare() schedules for later runs at once.
    let allocating = false;
    const sleep = async (ms: number) => {
      if (!allocating) return;
      slept.push(ms);
      now += ms;
    };
    const a = new Ipam(w.source('A'), 1500, () => now, sleep);
    await a.prepare(net);
    t.equal(w.claims.filter((c) => c.owner === 'A').length, 1, 'one block claimed at network creation');
    await a.prepare(net);
    t.equal(w.claims.filter((c) => c.owner === 'A').length, 1, 'preparing again claims nothing more');
    now += 2000; // the user starts the first container 2 s later
    slept.length = 0;
    allocating = true;
    const ip = await a.allocate(net);
    allocating = false;
    t.ok(ip.startsWith('198.18.0.'), `first address ${ip}`);
    t.same(
      slept.filter((ms) => ms > 0),
      [],
      'no settle wait for the first container',
    );

    const b = new Ipam(w.source('B'), 1500, () => now, sleep);
    await b.prepare(net);
    now += 400; // started 400 ms after the network was created
    slept.length = 0;
    allocating = true;
    await b.allocate(net);
    allocating = false;
    t.same(
      slept.filter((ms) => ms > 0),
      [1100],
      'waits only the rest of the settle period (1100 of 1500 ms)',
    );
    t.equal(new Set(w.claims.map((c) => c.block)).size, w.claims.length, 'no block claimed twice');
  },
);

t.test('two hosts claiming the only block ahead: the later claim is withdrawn, its host borrows', async (t) => {
  const w = new World();
  let now = 0;
  const sleep = async (ms: number) => {
    now += ms;
  };
  const conflicts: string[] = [];
  const small: NetworkValue = { name: 's', vni: 8, subnet: '198.18.1.0/28', gateway: '198.18.1.1' };
  const a = new Ipam(w.source('A'), 1500, () => now, sleep);
  // B does not see A's claim yet when it claims (both created the network at the same moment).
  let delivered = false;
  const bSource = w.source('B');
  const b = new Ipam(
    { ...bSource, claims: () => (delivered ? w.claims : w.claims.filter((c) => c.owner === 'B')) },
    1500,
    () => now,
    sleep,
    (c) => conflicts.push(`${c.block} won by ${c.winner}`),
  );
  await a.prepare(small);
  await b.prepare(small);
  delivered = true;
  t.equal(w.claims.length, 2, 'both claimed the one block');
  const [ipA, ipB] = await Promise.all([a.allocate(small), b.allocate(small)]);
  t.not(ipA, ipB, `different addresses (${ipA}, ${ipB})`);
  t.same(conflicts, ['198.18.1.0/28 won by A'], 'B saw it lost');
  t.notOk(
    w.claims.some((c) => c.owner === 'B' && c.block === '198.18.1.0/28'),
    "B's losing block claim is withdrawn",
  );
  t.ok(
    w.claims.some((c) => c.owner === 'B' && c.block === `${ipB}/32`),
    "B borrowed its address from A's block",
  );
});

t.test('two networks sharing a subnet: an address being handed out in one says nothing about the other', async (t) => {
  const twin: NetworkValue = { ...net, name: 'twin', vni: 9 };
  // Block IPAM: one host with a settled block in each network.
  const w = new World();
  const a = new Ipam(w.source('A'), 0, Date.now, noSleep);
  for (const n of [net, twin]) {
    w.claims.push({ network: n.name, block: '198.18.0.0/28', owner: 'A', lamport: ++w.clock });
    a.restoreClaim(n.name, '198.18.0.0/28');
  }
  const first = await a.allocate(net); // pending in n until settle
  const twinFirst = await a.allocate(twin);
  t.equal(twinFirst, first, 'the first free address of twin is the one pending in n (nothing holds it in twin)');
  a.settle(twin.name, twinFirst);
  w.endpoints.push({ network: 'twin', ip: twinFirst, id: 't1', host: 'A' });
  const second = await a.allocate(net);
  await t.resolves(a.reserveExplicit(twin, second), 'an address pending in n can be given explicitly in twin');
  a.settle(net.name, first);
  a.settle(net.name, second);
  // The store's IPAM: the same, with the addresses the store hands out.
  const handed: string[] = [];
  const store = {
    allocate: async (_n: NetworkValue, _h: string, exclude: Iterable<string> = []) => {
      const taken = new Set(exclude);
      const ip = ['198.18.0.2', '198.18.0.3', '198.18.0.4'].find((x) => !taken.has(x)) as string;
      handed.push(ip);
      return ip;
    },
    reserve: async () => undefined,
    release: async () => true,
  };
  const s = new StoreIpam(store, 'A', () => []);
  const inN = await s.allocate(net);
  t.equal(await s.allocate(twin), inN, 'twin is not told to exclude what is pending in n');
  await t.resolves(s.reserveExplicit(twin, await s.allocate(net)), 'explicit in twin while pending in n');
  await t.rejects(
    s.reserveExplicit(net, inN),
    { field: 'ip', message: /being allocated on this host/ },
    'still refused in n itself',
  );
});
