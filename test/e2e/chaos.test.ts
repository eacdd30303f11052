/**
 * The chaos suite, shortened (the full run: `npm run chaos`, figures in docs/operations.md): 4 hosts
 * with containers pinging each other every 100 ms through a partition, an agent kill loop, two hosts
 * crashing together, a reboot, a read-only and a full state directory and attach/detach churn. After
 * each fault every host's kernel must equal the desired table (`fdb --cluster --check`).
 */
import t from 'tap';
import { ChaosRun, SHORT } from '../chaos/scenario.js';

const run = await ChaosRun.create(SHORT);
t.teardown(() => run.teardown());

t.test(
  'partition: the others keep their traffic; healed, every kernel is right; the contested address has one holder',
  async (t) => {
    const r = await run.partition();
    t.same(r.errors, [], 'no errors');
    t.equal(r.pingsLost, 0, `no ping lost among h1-h3 (${r.pingsSent} sent)`);
    t.ok(r.convergenceMs !== undefined, `converged ${r.convergenceMs} ms after healing`);
    const { views } = r.contested as { views: string[] };
    t.comment(`the contested address as h1..h4 see it: ${views.join(' | ')}`);
    t.equal(views[1], views[2], 'the hosts without a side (h2, h3) agree on its holder');
    t.match(
      views[1],
      /^h1:remote h4:refused: ip-in-use$/,
      "h1's side keeps it (h2 and h3 saw it first), h4's is refused (ip-in-use)",
    );
    const { winner, afterWinnerRestart } = r.contested as { winner: string; afterWinnerRestart: string[] };
    // The holder, not the reason: after its restart the winner may list the other endpoint as
    // `local-conflict` (its own record re-enters its table after the snapshot's) instead of `ip-in-use`.
    const holders = (v: string[]) => v.map((x) => x.replace(/refused: \S+/g, 'refused'));
    t.same(
      holders(afterWinnerRestart),
      holders(views),
      `after ${winner}'s agent is killed and restarted, every host still sees the same holder`,
    );
  },
);

t.test('kill -9 and restart of a random agent every 5 s: no ping lost, every kernel right afterwards', async (t) => {
  const r = await run.killLoop();
  t.same(r.errors, [], 'every restart came up');
  t.equal(r.pingsLost, 0, `no ping lost (${r.pingsSent} sent, ${String(r.kills)} kills)`);
  // Every deletion on the VXLAN devices is classified from its own notification: the kernel's own
  // multicast entries (ff02::2, made after an IPv6 router solicitation of the device, expired later)
  // are deleted now and then and are not ours (earlier runs counted them: 1–2 in some short runs).
  t.comment(
    `deletions on the VXLAN devices during the loop: ${String(r.entriesDeleted)} ${JSON.stringify(r.deletedEntries)}; kills: ${String(r.killed)}`,
  );
  t.equal(r.watcherOverruns, 0, 'the deletion watcher lost no notification (its counts are complete)');
  t.equal(r.unicastEntriesDeleted, 0, 'no fdb or neighbour entry of an endpoint deleted (and re-added) on any host');
  t.ok(r.convergenceMs !== undefined, 'every kernel right afterwards');
});

t.test('two hosts crash and return together (one without seeds): no ping lost, no entry deleted', async (t) => {
  const r = await run.doubleCrash();
  t.same(r.errors, [], 'both came back');
  t.equal(r.pingsLost, 0, `no ping lost (${r.pingsSent} sent)`);
  t.equal(r.watcherOverruns, 0, 'the deletion watcher lost no notification');
  // h1 has no seeds: before it rejoined through the members it remembered, it started with an empty
  // view and deleted the other hosts' entries (added back a second later).
  t.equal(r.unicastEntriesDeleted, 0, 'no fdb or neighbour entry of an endpoint deleted on any host');
  t.ok(r.convergenceMs !== undefined, 'every kernel right afterwards');
});

t.test('a host reboots: the others keep their traffic; it comes back and converges', async (t) => {
  const r = await run.reboot();
  t.same(r.errors, []);
  t.equal(r.pingsLost, 0, `no ping lost among the other hosts (${r.pingsSent} sent)`);
  t.ok(r.convergenceMs !== undefined, `converged ${r.convergenceMs} ms after the agent started again`);
});

t.test('a read-only state directory: a clear error, the state file intact, recovery when writable', async (t) => {
  const r = await run.readOnlyStateDir();
  t.same(r.errors, [], 'attach refused, nothing half-programmed, the file unchanged');
  t.match(
    r.refusedWith,
    /stateDir: cannot write .*agent-state\.json/,
    'the error names the state directory and the file',
  );
  t.equal(r.pingsLost, 0, `traffic unaffected (${r.pingsSent} pings)`);
  t.ok(r.convergenceMs !== undefined, 'every kernel right afterwards');
});

t.test('a full state directory (ENOSPC): a clear error, the state file intact, recovery with space', async (t) => {
  const r = await run.fullStateDir();
  t.same(r.errors, [], 'attach refused, nothing half-programmed, the file unchanged');
  t.match(r.refusedWith, /stateDir: cannot write .*ENOSPC/, 'the error names the state directory and the full disk');
  t.equal(r.pingsLost, 0, `traffic unaffected (${r.pingsSent} pings)`);
  t.ok(r.convergenceMs !== undefined, 'every kernel right afterwards');
});

t.test('attach/detach churn: no entry leaked, descriptors do not grow', async (t) => {
  const r = await run.soak();
  t.same(r.errors, [], 'every attach and detach worked');
  t.equal(
    r.pingsLost,
    0,
    `no ping lost between the standing containers (${r.pingsSent} sent, ${String(r.cycles)} cycles)`,
  );
  const start = r.start as { usage: Array<{ fds: number }>; entries: number[] };
  const end = r.end as { usage: Array<{ fds: number }>; entries: number[] };
  t.same(end.entries, start.entries, 'kernel entries per host as before the churn');
  end.usage.forEach((u, i) =>
    t.ok(u.fds <= (start.usage[i]?.fds ?? 0) + 10, `h${i + 1}: descriptors ${start.usage[i]?.fds} → ${u.fds}`),
  );
  // The heap after a forced collection, sampled every tenth (the full soak reads it for a leak).
  const heaps = r.heapAfterGcSamplesMb as string[];
  t.comment(`heap after a forced GC (MB), per host: ${heaps.join(' / ')}`);
  t.ok(
    heaps.every((h) => h.split(' ').length >= 2 && h.split(' ').every((x) => Number(x) > 0)),
    'every sample read (agents under --expose-gc)',
  );
});
