import t from 'tap';
import { LINES_PER_WINDOW, RefusalLog, WINDOW_MS } from '../../agent/refusals.js';
import type { Refusal } from '../../agent/claims.js';

function capture() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: object, msg: string) =>
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const refusal = (owner: string, i: number, reason: Refusal['reason'] = 'ip-not-claimed'): Refusal => ({
  network: 'blue',
  id: `e${i}`,
  owner,
  ip: `198.18.0.${i % 250}`,
  mac: '02:00:00:00:00:01',
  reason,
});

t.test('each refusal is counted once and logged with its end', async (t) => {
  const { lines, log } = capture();
  const r = new RefusalLog(log, (p) => `name-${p}`);
  const a = [refusal('p1', 1), refusal('p1', 2, 'mac-in-use')];
  r.update(a);
  r.update(a);
  t.equal(r.total, 2, 'counted once');
  t.same(Object.fromEntries(r.counts()), { 'ip-not-claimed': 1, 'mac-in-use': 1 });
  r.update([a[0] as Refusal]);
  t.same(
    lines.map((l) => `${l.level} ${l.msg} ${String(l.obj.endpoint)} ${String(l.obj.owner)}`),
    [
      'warn endpoint refused: not programmed on this host e1 name-p1',
      'warn endpoint refused: not programmed on this host e2 name-p1',
      'info endpoint no longer refused e2 name-p1',
    ],
  );
  t.equal(r.reasonOf({ network: 'blue', id: 'e1', owner: 'p1' }), 'ip-not-claimed');
  t.equal(r.reasonOf({ network: 'blue', id: 'e2', owner: 'p1' }), undefined);
});

t.test('a member with many refused records: a bounded number of lines per window, the rest summed up', async (t) => {
  const { lines, log } = capture();
  let now = 1_000_000;
  const r = new RefusalLog(
    log,
    (p) => p,
    () => now,
  );
  const flood = Array.from({ length: 5000 }, (_, i) => refusal('flooder', i));
  const all = [...flood, refusal('honest', 1)];
  r.update(all);
  t.equal(r.total, 5001, 'every refusal counted');
  t.equal(r.counts().get('ip-not-claimed'), 5001, 'and listed');
  const of = (owner: string) => lines.filter((l) => l.obj.owner === owner);
  t.equal(of('flooder').length, LINES_PER_WINDOW, `${LINES_PER_WINDOW} lines for the flooder`);
  t.equal(of('honest').length, 1, "another member's refusal is still logged");
  const summaries = () => lines.filter((l) => l.msg.startsWith('more endpoint refusals'));
  now += WINDOW_MS - 1;
  r.update(all);
  t.equal(summaries().length, 0, 'no summary before the window ends');
  now += 2;
  r.update(all);
  t.same(
    summaries()[0]?.obj,
    {
      owner: 'flooder',
      refused: 5000 - LINES_PER_WINDOW,
      byReason: { 'ip-not-claimed': 5000 - LINES_PER_WINDOW },
      noLongerRefused: 0,
      seconds: 10,
    },
    'then one summary line, with the count by reason',
  );
  r.update([]); // every refusal ends, in a new window
  now += WINDOW_MS;
  r.report([], [], 'self'); // the periodic reconcile's report closes the window even with nothing new
  t.equal(summaries().length, 2);
  t.equal(summaries()[1]?.obj.noLongerRefused, 5000 - LINES_PER_WINDOW, 'the ends summed up too');
  t.ok(lines.length < 2 * LINES_PER_WINDOW + 10, `${lines.length} lines for 5,001 refusals and their ends`);
});

t.test('report: our own records are left out; the same admission again costs nothing', async (t) => {
  const { lines, log } = capture();
  const r = new RefusalLog(log, (p) => p);
  const refused = [refusal('self', 1), refusal('p2', 2)];
  r.report(refused, [], 'self');
  t.equal(r.total, 1, "only the other member's refusal");
  r.report(refused, [], 'self');
  t.equal(lines.length, 1);
  const local = [refusal('p3', 3, 'local-conflict')];
  r.report(refused, local, 'self');
  t.equal(r.total, 2, 'a new local conflict is seen although the admission is the same');
  t.equal(r.counts().get('local-conflict'), 1);
});

t.test('a new object for the same refusal is the same refusal; a new reason is a new one', async (t) => {
  const { lines, log } = capture();
  const r = new RefusalLog(log, (p) => p);
  const a = refusal('p1', 1);
  r.update([a, refusal('p1', 2)]);
  r.update([{ ...a }, refusal('p1', 2)]);
  t.equal(r.total, 2, 'copies are not counted again');
  t.equal(lines.length, 2, 'nor logged');
  r.update([{ ...a, reason: 'mac-in-use' }]);
  t.equal(r.total, 3, 'the same record refused for another reason is counted');
  t.same(Object.fromEntries(r.counts()), { 'mac-in-use': 1 }, 'the other record ended');
  t.same(
    lines.slice(2).map((l) => `${l.msg} ${String(l.obj.endpoint)}`),
    ['endpoint refused: not programmed on this host e1', 'endpoint no longer refused e2'],
  );
});
