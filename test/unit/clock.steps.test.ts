/**
 * Durations within a host are measured on a monotonic clock (core/clock.ts): a step of the wall clock
 * (Date.now stubbed here, as an NTP step makes it) neither expires a tombstone early nor keeps one an
 * hour too long.
 */
import t from 'tap';
import { monotonicMs } from '../../core/clock.js';
import { ReplicatedTable } from '../../discovery/table.js';

const realNow = Date.now;
t.teardown(() => {
  Date.now = realNow;
});
const HOUR = 3_600_000;

t.test('monotonicMs ignores a step of the wall clock', async (t) => {
  const before = monotonicMs();
  Date.now = () => realNow() + 2 * HOUR;
  const after = monotonicMs();
  Date.now = realNow;
  t.ok(after - before >= 0 && after - before < 1000, `moved ${after - before} ms`);
});

for (const step of [+2 * HOUR, -2 * HOUR])
  t.test(`a tombstone of an hour's TTL across a wall-clock step of ${step / HOUR} h`, async (t) => {
    const table = new ReplicatedTable('me', 0);
    table.write('network', 'blue', null);
    Date.now = () => realNow() + step;
    t.equal(table.expireTombstones(HOUR), 0, 'not expired by the step');
    Date.now = realNow;
    t.equal(table.expireTombstones(HOUR, monotonicMs() + HOUR), 1, 'expired once the hour has passed');
  });
