/** Endpoint names: the label rule, who keeps a name claimed twice, and the records carrying them. */
import t from 'tap';
import { parseAliases, parseDnsLabel } from '../../core/dns-names.js';
import { checkEndpointValue } from '../../core/records.js';
import { nameConflicts } from '../../agent/names.js';
import type { EndpointValue } from '../../core/records.js';

const ep = (id: string, host: string, name?: string): EndpointValue => ({
  network: 'n',
  id,
  mac: '02:42:c6:12:00:05',
  ip: '198.18.0.5',
  vtep: '198.51.100.11',
  host,
  ...(name ? { name } : {}),
});

t.test('DNS labels: lower-cased, RFC 1123, errors naming the field', async (t) => {
  t.equal(parseDnsLabel('Web-1', 'name'), 'web-1');
  for (const bad of ['', '-a', 'a-', 'web_1', 'a.b', 'x'.repeat(64), 3])
    t.throws(() => parseDnsLabel(bad, 'name'), /^name: /, JSON.stringify(bad));
  t.same(parseAliases(['api', 'API', 'db']), ['api', 'db'], 'duplicates (any case) dropped');
  t.throws(() => parseAliases(['ok', 'not ok']), /aliases\[1\]/);
  t.throws(() => parseAliases(Array.from({ length: 17 }, (_, i) => `a${i}`)), /at most 16/);
  t.same(
    checkEndpointValue({ ...ep('a', 'h1'), name: 'Web', aliases: ['x'] }),
    { ...ep('a', 'h1'), name: 'web', aliases: ['x'] },
    'records check names too',
  );
  t.throws(() => checkEndpointValue({ ...ep('a', 'h1'), name: 'a b' }), /value\.name/);
});

t.test('a name claimed by two live endpoints: the earlier record keeps it; a dead owner claims nothing', async (t) => {
  const recs = [
    { value: ep('late', 'h2', 'web'), owner: 'p2', lamport: 9 },
    { value: ep('early', 'h1', 'web'), owner: 'p1', lamport: 4 },
    { value: ep('other', 'h3', 'db'), owner: 'p3', lamport: 1 },
  ];
  t.same(
    nameConflicts(recs, () => true),
    [{ network: 'n', name: 'web', id: 'late', host: 'h2', holderId: 'early', holderHost: 'h1' }],
  );
  t.same(
    nameConflicts(recs, (p) => p !== 'p1'),
    [],
    "the holder's host is dead: the name is free for the other",
  );
  t.same(
    nameConflicts([...recs].reverse(), () => true),
    nameConflicts(recs, () => true),
    'the order records arrived in does not matter',
  );
  const tie = [
    { value: ep('b', 'h2', 'web'), owner: 'pb', lamport: 4 },
    { value: ep('a', 'h1', 'web'), owner: 'pa', lamport: 4 },
  ];
  t.equal(nameConflicts(tie, () => true)[0]?.holderId, 'a', 'same Lamport time: the smaller owner id keeps it');
});

t.test('Docker names as DNS labels: mapped when they can be, skipped when not', async (t) => {
  const { dnsLabelOf } = await import('../../docker/names.js');
  t.equal(dnsLabelOf('/Web_1'), 'web-1', 'leading slash dropped, lower case, _ → -');
  t.equal(dnsLabelOf('app.v2'), 'app-v2', '. → -');
  t.equal(dnsLabelOf('_x_'), 'x', 'no leading or trailing hyphen');
  t.equal(dnsLabelOf('a'.repeat(80)), 'a'.repeat(63), 'cut to 63');
  t.equal(dnsLabelOf('___'), undefined, 'nothing left: skipped');
});
