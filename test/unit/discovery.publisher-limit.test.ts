/** The per-publisher record budget of gossip (a flooding member). */
import t from 'tap';
import { PublisherLimit } from '../../discovery/publisher-limit.js';

t.test('a burst passes, the excess is refused, the budget refills at the rate', async (t) => {
  let now = 0;
  const l = new PublisherLimit(100, 500, () => now, 10_000);
  t.ok(l.take('a', 500).ok, 'the burst passes at once');
  const first = l.take('a', 1);
  t.same(first, { ok: false, report: true, refusedSinceReport: 1 }, 'the first refusal is reported');
  t.same(
    l.take('a', 10),
    { ok: false, report: false, refusedSinceReport: 10 },
    'later ones are counted, not reported again',
  );
  t.ok(l.take('b', 500).ok, 'another publisher has its own budget');
  now = 1000;
  t.ok(l.take('a', 100).ok, 'one second refills `perSecond` records');
  t.notOk(l.take('a', 1).ok, 'and no more');
  now = 11_000;
  const again = l.take('a', 600);
  t.notOk(again.ok, 'a batch larger than the burst never passes whole');
  t.equal(again.report, true, 'reported again after the log interval');
  t.equal(again.refusedSinceReport, 611, 'with every record refused since the last report');
  t.ok(l.take('a', 500).ok, 'the bucket is full again (capped at the burst)');
});

t.test('a sustained flood gets exactly the rate through', async (t) => {
  let now = 0;
  const l = new PublisherLimit(200, 2000, () => now);
  let passed = 0;
  for (let ms = 0; ms <= 60_000; ms += 1) {
    now = ms;
    for (let k = 0; k < 5; k++) if (l.take('flooder', 1).ok) passed++; // 5000 records/s offered
  }
  t.equal(passed, 2000 + 200 * 60, 'burst + 60 s at 200/s');
});

t.test('idle publishers are forgotten, not those with refusals pending a report', async (t) => {
  let now = 0;
  const l = new PublisherLimit(100, 100, () => now, 10_000);
  l.take('idle', 50);
  l.take('noisy', 100);
  l.take('noisy', 5); // reported at once
  l.take('noisy', 7); // pending the next report
  now = 2000;
  l.prune();
  t.same(l.take('idle', 100).ok, true, 'a forgotten publisher starts with a full burst');
  t.equal(l.take('noisy', 200).refusedSinceReport, 207, 'the noisy one still carries its count');
});

t.test('refusedWithin: a publisher refused lately, until the window passes', async (t) => {
  let now = 0;
  const l = new PublisherLimit(10, 10, () => now);
  t.equal(l.refusedWithin('a', 1000), false, 'unknown publisher');
  t.equal(l.take('a', 10).ok, true);
  t.equal(l.refusedWithin('a', 1000), false, 'within its budget');
  now = 50;
  t.equal(l.take('a', 5).ok, false);
  t.equal(l.refusedWithin('a', 1000), true, 'refused 0 ms ago');
  now = 1049;
  t.equal(l.refusedWithin('a', 1000), true, '999 ms later');
  now = 1050;
  t.equal(l.refusedWithin('a', 1000), false, '1000 ms later');
  t.equal(l.refusedWithin('b', 1000), false, 'another publisher');
});

t.test('affords() looks without taking; refuse() counts a refusal like a failed take', async (t) => {
  let now = 0;
  const l = new PublisherLimit(100, 500, () => now, 10_000);
  t.ok(l.affords('a', 500), 'a new publisher affords its burst');
  t.notOk(l.affords('a', 501), 'not more');
  t.ok(l.take('a', 400).ok);
  t.ok(l.affords('a', 100), '100 left');
  t.ok(l.affords('a', 100), 'looking spends nothing');
  t.notOk(l.affords('a', 101));
  now = 500;
  t.ok(l.affords('a', 150), 'the refill counts (50 per 500 ms)');
  t.same(l.refuse('a', 7), { ok: false, report: true, refusedSinceReport: 7 }, 'refuse: reported as the first refusal');
  t.ok(l.refusedWithin('a', 1000), 'and remembered as a refusal');
  t.ok(l.take('a', 150).ok, 'refuse took nothing');
});
