/**
 * The combined chaos run's accounting: `ping -D -O` lines read into a pair's log, and lost echoes put
 * in the fault windows they fell in (a cut or reboot excuses its own host's pairs; warm-up apart).
 */
import t from 'tap';
import { echoes, lostTimes, readPingLine, type PairLog } from '../chaos/ping-mesh.js';
import { countByWindow, type FaultWindow } from '../chaos/fault-windows.js';

const log = (from: number, to: number, bornAt = 0): PairLog => ({ from, to, bornAt, seenAt: [], answered: new Set() });

t.test('ping -D -O lines: replies, unanswered, unreachable; anything else ignored', async (t) => {
  const l = log(1, 2);
  t.ok(readPingLine(l, '[1796618218.701912] 64 bytes from 198.18.70.2: icmp_seq=1 ttl=64 time=0.031 ms'));
  t.ok(readPingLine(l, '[1796618218.909763] no answer yet for icmp_seq=2'));
  t.ok(readPingLine(l, '[1796618219.117627] From 198.18.70.1 icmp_seq=3 Destination Host Unreachable'));
  t.ok(readPingLine(l, '[1796618219.317627] no answer yet for icmp_seq=4'));
  // A late reply to 4: answered after all.
  t.ok(readPingLine(l, '[1796618219.417627] 64 bytes from 198.18.70.2: icmp_seq=4 ttl=64 time=1100 ms'));
  t.notOk(readPingLine(l, 'PING 198.18.70.2 (198.18.70.2) 56(84) bytes of data.'));
  t.notOk(readPingLine(l, '--- 198.18.70.2 ping statistics ---'));
  t.equal(l.seenAt[1], 1796618218702);
  t.equal(l.seenAt[4], 1796618219318, 'an echo keeps the time it was first seen');
  l.endedAt = 1796618230000;
  t.same(lostTimes(l), [1796618218910, 1796618219118], 'two lost: 2 unanswered, 3 unreachable');
  t.same(
    echoes(l).map(([, ok]) => ok),
    [true, false, false, true],
  );
  // Echoes seen in the last 1.5 s before the pinger ended may still have been answered: not lost.
  l.endedAt = 1796618219500;
  t.same(lostTimes(l), [], 'none old enough to count');
});

t.test('resumption after a cut: the slowest pair and the median pair', async (t) => {
  const pair = (from: number, to: number, firstAnswerAt: number): PairLog => {
    const l = log(from, to);
    for (let ms = 0; ms < 30_000; ms += 500) {
      l.seenAt.push(ms);
      if (ms < 5000 || ms >= firstAnswerAt) l.answered.add(l.seenAt.length - 1);
    }
    l.endedAt = 40_000;
    return l;
  };
  // h1 cut from 5 s to 10 s; its pairs answer again 1 s, 1.5 s and 12 s after.
  const logs = [pair(1, 2, 11_000), pair(2, 1, 11_500), pair(1, 3, 22_000)];
  const r = countByWindow(logs, [{ fault: 'underlay cut', hosts: [1], start: 5000, end: 10_000, excuses: true }], 0, {
    graceMs: 15_000,
    warmupMs: 0,
  });
  t.equal(r.windows[0]?.resumedAfterMs, 12_000, 'the slowest pair');
  t.equal(r.windows[0]?.resumedMedianMs, 1500, 'the median pair');
});

t.test('windows: excused pairs, warm-up, losses put in every window they fell in', async (t) => {
  const at = (l: PairLog, ms: number, ok: boolean) => {
    const seq = l.seenAt.length;
    l.seenAt[seq] = ms;
    if (ok) l.answered.add(seq);
  };
  const a = log(1, 2); // under no excuse
  const b = log(3, 1); // h3 is cut from 10 000 to 20 000
  const c = log(2, 4, 50_000); // born late
  for (let ms = 0; ms < 60_000; ms += 1000) {
    at(a, ms, ms !== 12_000 && ms !== 40_000);
    at(b, ms, ms < 10_000 || ms > 22_000);
  }
  for (let ms = 50_000; ms < 60_000; ms += 1000) at(c, ms, ms !== 51_000 && ms !== 58_000);
  // A pair of h3 made long after the cut (a later reboot's container): not the cut's to wait for.
  const late = log(3, 2, 40_000);
  for (let ms = 40_000; ms < 60_000; ms += 1000) at(late, ms, true);
  for (const l of [a, b, c, late]) l.endedAt = 70_000;
  const windows: FaultWindow[] = [
    { fault: 'underlay cut', hosts: [3], start: 10_000, end: 20_000, excuses: true },
    { fault: 'kill -9 + restart', hosts: [2], start: 11_000, end: 13_000, excuses: false },
  ];
  const r = countByWindow([a, b, c, late], windows, 0, { graceMs: 5000, warmupMs: 3000 });
  t.equal(r.pingsLost, 3, "h1→h2 at 12 s and 40 s, h2→h4 at 58 s (51 s is the pair's warm-up)");
  t.same(r.lostByPair, { 'h1→h2': 2, 'h2→h4': 1 });
  t.equal(r.excusedLost, 13, "h3's 13 echoes from 10 s to 22 s");
  t.equal(r.warmupLost, 1);
  t.equal(r.lostOutsideWindows, 2);
  t.same(
    r.windows.map((w) => [w.fault, w.sent, w.lost]),
    [
      ['underlay cut', 16, 1],
      ['kill -9 + restart', 8, 1],
    ],
    "the loss at 12 s counts in both windows; the cut's own pairs do not count in it",
  );
  t.equal(r.windows[0]?.resumedAfterMs, 3000, "h3's pings came back 3 s after the cut ended");
  t.equal(r.windows[0]?.resumedMedianMs, 3000, 'one pair lived through the cut: its median is the same');
  t.equal(r.windows[1]?.resumedAfterMs, undefined, 'a kill excuses nothing: no resumption time');
});
