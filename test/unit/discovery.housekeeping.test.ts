/**
 * What throwaway identities can make a host keep (issue 27, item 8): records of owners that are no
 * member are dropped after a grace; cluster questions per asking member are rate limited; per-owner
 * counters stay bounded.
 */
import t from 'tap';
import { silentLogger } from '../../core/logger.js';
import { DEFAULT_TIMERS, emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import { Housekeeping, ORPHAN_GRACE_MS } from '../../discovery/housekeeping.js';
import { Membership } from '../../discovery/membership.js';
import { ClusterQueries, QUERY_BURST } from '../../discovery/queries.js';
import { MAX_COUNTED_OWNERS, RecordBudget } from '../../discovery/record-budget.js';
import { ReplicatedTable } from '../../discovery/table.js';

const id = (c: string) => `12D3KooW${c.repeat(44)}`;
const clock = { now: () => 0, setTimer: () => ({ cancel: () => undefined }) };

function setup() {
  const table = new ReplicatedTable(id('S'));
  const membership = new Membership(
    { peerId: id('S'), name: 's', vtep: '198.51.100.10', addrs: [], incarnation: 5 },
    undefined,
    clock,
  );
  membership.alive({ peerId: id('M'), name: 'm', vtep: '198.51.100.11', addrs: [], incarnation: 5 });
  const ctx = {
    peerId: id('S'),
    table,
    membership,
    stats: emptyStats(),
    timers: { ...DEFAULT_TIMERS, floodBurst: 1, floodRecordsPerSecond: 0.001 },
    log: silentLogger,
  } as unknown as DiscoveryContext;
  return { ctx, table, membership };
}

const block = (owner: string, lamport: number) =>
  ({
    kind: 'ipam-block',
    key: `blue/198.18.${lamport}.0/28`,
    owner,
    lamport,
    value: { network: 'blue', block: `198.18.${lamport}.0/28` },
  }) as const;

t.test("records of an owner that is no member go after the grace (once synced); a member's stay", async (t) => {
  const { ctx, table } = setup();
  let now = 1000;
  const keeper = new Housekeeping(ctx, { prune: () => undefined }, () => now);
  table.merge(block(id('M'), 1), now);
  table.merge(block(id('X'), 2), now); // a throwaway identity's claim, relayed by someone
  table.merge(
    { kind: 'network', key: 'n', owner: id('X'), lamport: 3, value: { name: 'n', vni: 9, subnet: '198.18.9.0/24' } },
    now,
  );
  t.notOk(keeper.run(false), 'not synced yet: nothing is judged');
  keeper.run(true);
  t.equal(table.size, 3, 'first seen without a member: kept for the grace');
  now += ORPHAN_GRACE_MS;
  t.ok(keeper.run(true), 'the table changed');
  t.same(
    [...table.all()].map((r) => `${r.kind}/${r.owner.slice(-1)}`).sort(),
    ['ipam-block/M', 'network/X'],
    "the orphan's owner-bound records went; shared definitions and a member's records stayed",
  );
});

t.test('cluster questions: at most a burst, then the rate, per asking member; non-members refused', async (t) => {
  const { ctx } = setup();
  const q = new ClusterQueries(ctx);
  let answered = 0;
  for (let i = 0; i < QUERY_BURST + 30; i++) if (q.refusal(id('M'), 'fdb') === undefined) answered++;
  t.equal(answered, QUERY_BURST, 'a burst of questions, then refusals');
  t.match(q.refusal(id('M'), 'fdb'), /rate limited/);
  t.match(q.refusal(id('Z'), 'fdb'), /not a live member/);
  t.ok(ctx.stats.dropped['query-rate'] > 0, 'counted');
});

t.test('per-owner refusal counters stay bounded whatever identities a key holder makes', async (t) => {
  const { ctx } = setup();
  const budget = new RecordBudget(ctx);
  for (let i = 0; i < MAX_COUNTED_OWNERS + 500; i++) {
    budget.take(`owner-${i}`, 1, 'gossip');
    budget.take(`owner-${i}`, 5, 'gossip');
  }
  const keys = Object.keys(ctx.stats.rateLimited);
  t.equal(keys.length, MAX_COUNTED_OWNERS + 1);
  t.ok(ctx.stats.rateLimited['(others)']! > 0, 'the rest counted together');
});
