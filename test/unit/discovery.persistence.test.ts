/**
 * The table snapshot's cadence (discovery/persistence.ts): at most every 5 s, and at most once per 20
 * times its own cost, so a large table's snapshot cannot take a large share of the agent's CPU.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../core/logger.js';
import {
  Persistence,
  snapshotGapMs,
  TABLE_SNAPSHOT_COST_FACTOR,
  TABLE_SNAPSHOT_INTERVAL_MS,
} from '../../discovery/persistence.js';
import { ReplicatedTable } from '../../discovery/table.js';

const membership = { self: { incarnation: 1 }, others: () => [] };

t.test('the gap: the floor for a cheap snapshot, 20 times its cost for a dear one', async (t) => {
  t.equal(snapshotGapMs(3), TABLE_SNAPSHOT_INTERVAL_MS);
  t.equal(snapshotGapMs(1200), 1200 * TABLE_SNAPSHOT_COST_FACTOR, 'a 1.2 s snapshot: the next 24 s later');
  t.equal(snapshotGapMs(10, 50), 200);
});

t.test('a snapshot that cost D ms is followed by the next no sooner than 20 D after it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-snapshot-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const real = new ReplicatedTable('me', 3);
  const COST_MS = 30;
  // A table whose reading takes COST_MS (what 20,000 records take, shrunk).
  const slow = Object.assign(Object.create(real) as ReplicatedTable, {
    *all() {
      const until = performance.now() + COST_MS;
      while (performance.now() < until);
      yield* real.all();
    },
  });
  const p = new Persistence(dir, slow, membership as never, silentLogger, 10);
  const file = path.join(dir, 'table.json');
  const inode = () => fs.statSync(file).ino;
  p.flush();
  const first = inode();
  const writtenAt = performance.now();
  t.ok(p.snapshotGap >= COST_MS * TABLE_SNAPSHOT_COST_FACTOR, `the gap follows the cost (${p.snapshotGap} ms)`);
  p.scheduleTable();
  await new Promise((r) => setTimeout(r, (COST_MS * TABLE_SNAPSHOT_COST_FACTOR) / 2));
  t.equal(inode(), first, 'not written again within the gap (the floor alone would have allowed it)');
  let again = 0;
  for (const end = performance.now() + 10_000; performance.now() < end && !again;) {
    await new Promise((r) => setTimeout(r, 20));
    if (inode() !== first) again = performance.now();
  }
  t.ok(again > 0, 'written once the gap has passed');
  t.ok(
    again - writtenAt >= COST_MS * TABLE_SNAPSHOT_COST_FACTOR - 5,
    `${Math.round(again - writtenAt)} ms after the first`,
  );
});
