/**
 * Discovery across separate processes, each in its own simulated host (network namespace) with its
 * own underlay address: convergence, late join through sync, forgery and malformed input.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Testbed } from '../../sim/testbed.js';
import { MemberProc, eventually } from '../fixtures/members.js';

const N = 6;
const tb = await Testbed.create({ hosts: N });
const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-disc-'));
const procs: MemberProc[] = [];
t.teardown(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await tb.teardown();
  fs.rmSync(stateRoot, { recursive: true, force: true });
});

function start(i: number, extra: { seeds?: string[] } = {}): MemberProc {
  const h = tb.host(i);
  const p = new MemberProc(
    {
      name: `h${i}`,
      vtep: h.vtep,
      listen: `${h.vtep}:7946`,
      seeds: extra.seeds ?? [`${tb.host(1).vtep}:7946`],
      stateDir: path.join(stateRoot, `h${i}`),
      timers: { pushPullIntervalMs: 5000 },
    },
    { netns: h.netns },
  );
  procs.push(p);
  return p;
}

const ep = (i: number, k: number) => ({
  network: 'blue',
  id: `e${i}-${k}`,
  mac: `02:00:00:00:0${i}:0${k}`,
  ip: `198.18.0.${i * 10 + k}`,
  vtep: tb.host(i).vtep,
  host: `h${i}`,
});

t.test('5 members converge on the same table', async (t) => {
  const first = [1, 2, 3, 4, 5].map((i) => start(i));
  await Promise.all(first.map((p) => p.ready));
  await first[0]?.call('putNetwork', { name: 'blue', vni: 100, subnet: '198.18.0.0/24' });
  for (const [i, p] of first.entries()) for (const k of [1, 2]) await p.call('putEndpoint', ep(i + 1, k));
  const ok = await eventually(async () => {
    const snaps = await Promise.all(first.map((p) => p.snapshot()));
    return snaps.every(
      (s) =>
        s.endpoints.length === 10 &&
        s.networks.includes('blue') &&
        s.members.filter((m) => m.state === 'alive').length === 5,
    );
  }, 15000);
  t.ok(ok, 'all five see 10 endpoints, the network and 5 alive members');
  const snaps = await Promise.all(first.map((p) => p.snapshot()));
  t.same(new Set(snaps.map((s) => JSON.stringify(s.endpoints))).size, 1, 'identical endpoint tables');
  for (const [i, s] of snaps.entries()) {
    t.equal(s.desired.blue?.length, 8, `h${i + 1}: desired = the 8 remote endpoints`);
    t.notOk(
      s.desired.blue?.some((x) => x.startsWith(`e${i + 1}-`)),
      `h${i + 1}: no own endpoint in desired`,
    );
  }
});

t.test("a late joiner gets the definitions through sync, and a network's records at its first attach", async (t) => {
  const late = start(6, { seeds: [`${tb.host(3).vtep}:7946`] });
  await late.ready;
  const ok = await eventually(async () => {
    const s = await late.snapshot();
    return s.networks.includes('blue') && s.members.filter((m) => m.state === 'alive').length === 6;
  }, 10000);
  t.ok(ok, 'late joiner has the network definition and sees 6 members');
  t.ok((await late.snapshot()).stats.syncRuns >= 1, 'through at least one sync');
  t.same((await late.snapshot()).endpoints, [], 'no endpoint record of a network it has no endpoint in');
  const joined = (await late.call('interest', { network: 'blue' })) as { interests: string[] };
  t.same(joined.interests, ['blue'], 'an interest taken before the attach');
  t.equal((await late.snapshot()).endpoints.length, 10, 'all 10 endpoints of the network as the interest returns');
  await late.call('putEndpoint', ep(6, 1));
  t.ok(
    await eventually(async () => (await procs[0]!.snapshot()).endpoints.length === 11, 5000),
    "the joiner's own endpoint reaches the others",
  );
});

t.test('forgery and malformed messages are dropped and counted; nothing crashes', async (t) => {
  const [h1, h2] = [procs[0] as MemberProc, procs[1] as MemberProc];
  const before = await h1.snapshot();
  // h2 publishes an endpoint record that claims h3 as its owner (signed by h2).
  const forged = {
    v: 1,
    t: 'records',
    records: [
      {
        kind: 'endpoint',
        key: 'blue/evil',
        owner: procs[2]!.peerId,
        lamport: 999,
        value: { ...ep(3, 9), id: 'evil' },
        sig: 'A'.repeat(88),
      },
    ],
  };
  const bad: Array<[string, unknown]> = [
    ['vxmesh/table/1', forged],
    [
      'vxmesh/table/1',
      {
        v: 1,
        t: 'records',
        records: [
          {
            kind: 'endpoint',
            key: 'blue/x',
            owner: h2.peerId,
            lamport: 5,
            value: { ...ep(2, 9), mac: 'zz:zz' },
            sig: 'A'.repeat(88),
          },
        ],
      },
    ],
    [
      'vxmesh/table/1',
      {
        v: 1,
        t: 'records',
        records: [
          {
            kind: 'endpoint',
            key: 'blue/y',
            owner: h2.peerId,
            lamport: 5,
            value: { ...ep(2, 9), ip: '198.18.0.300' },
            sig: 'A'.repeat(88),
          },
        ],
      },
    ],
    ['vxmesh/table/1', { v: 2, t: 'records', records: [] }],
    [
      'vxmesh/members/1',
      {
        v: 1,
        t: 'alive',
        member: { peerId: procs[2]!.peerId, name: 'h3', vtep: '198.51.100.99', addrs: [], incarnation: 9e12 },
      },
    ],
    ['vxmesh/members/1', { v: 1, t: 'dead', peerId: procs[2]!.peerId, incarnation: 9e12, from: procs[3]!.peerId }],
  ];
  for (const [topic, msg] of bad)
    await h2.call('publishRaw', { topic, base64: Buffer.from(JSON.stringify(msg)).toString('base64') });
  await h2.call('publishRaw', {
    topic: 'vxmesh/table/1',
    base64: Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919) & 255)).toString('base64'),
  });
  await h2.call('publishRaw', {
    topic: 'vxmesh/table/1',
    base64: Buffer.from(`{"v":1,"t":"records","records":[${'1,'.repeat(200000)}1]}`).toString('base64'),
  });
  // Every receiver rejects what it gets; which of them gets all eight is gossipsub's (a receiver's
  // score of h2 falls with each rejection, and a graylisted h2 is not heard from again): one that
  // counted every one of them shows the rule.
  const receivers = procs.filter((p) => p !== h2 && !p.exited);
  let drops: Array<Record<string, number>> = [];
  const counted = await eventually(async () => {
    drops = await Promise.all(receivers.map(async (p) => (await p.snapshot()).stats.dropped));
    return drops.some((d) => (d.forged ?? 0) >= 3 && (d.malformed ?? 0) >= 5);
  }, 15_000);
  const after = await h1.snapshot();
  t.ok(counted, `drops counted by a receiver: ${JSON.stringify(drops)}`);
  t.notOk(after.endpoints.includes('blue/evil'), 'forged endpoint not in the table');
  t.same(after.endpoints, before.endpoints, 'table unchanged');
  t.equal(after.members.find((m) => m.name === 'h3')?.state, 'alive', 'forged dead/alive about h3 ignored');
  for (const p of procs) t.notOk(p.exited, `${p.name} still running`);
});
