/** `vxmesh peers`: ages and short ids, the version column; --wide for ISO times and full ids. */
import t from 'tap';
import { age, peersTable, shortId, type PeerRow } from '../../cli/peers-table.js';

const now = Date.parse('2026-12-06T12:00:00Z');
const row = (name: string, over: Partial<PeerRow> = {}): PeerRow => ({
  name,
  peerId: `12D3KooWQx7yAbCdEfGhIjKlMnOp${name}Z9`,
  vtep: '198.51.100.11',
  state: 'alive',
  incarnation: 1765000000,
  lastAck: '2026-12-06T11:59:58Z',
  self: false,
  dataplaneHeld: false,
  dataplane: 'live',
  version: '0.1.0',
  ...over,
});

t.test('ages', async (t) => {
  t.equal(age('2026-12-06T11:59:59.250Z', now), '750ms');
  t.equal(age('2026-12-06T11:59:48Z', now), '12s');
  t.equal(age('2026-12-06T11:56:00Z', now), '4m');
  t.equal(age('2026-12-06T09:00:00Z', now), '3h');
  t.equal(age('2026-12-03T12:00:00Z', now), '3d');
  t.equal(age('2026-12-06T12:00:05Z', now), '0ms', 'a clock ahead is not negative');
});

t.test('the table', async (t) => {
  const rows = [
    row('h2', { version: undefined, wireguard: { latestHandshake: '2026-12-06T11:59:30Z', rxBytes: 1, txBytes: 2 } }),
    row('h1', { self: true, dataplane: 'self', lastAck: null }),
  ];
  const short = peersTable(rows, { now });
  const [head, first, second] = short.split('\n') as [string, string, string];
  t.match(head, /^NAME\s+STATE\s+DATAPLANE\s+VTEP\s+VERSION\s+LAST ACK\s+WIREGUARD\s+INCARNATION\s+PEER ID$/);
  t.match(first, /^h1 \(self\)\s+alive\s+self\s+198\.51\.100\.11\s+0\.1\.0\s+-\s+-/);
  t.match(second, /^h2\s+alive\s+live\s+198\.51\.100\.11\s+<0\.2\s+2s ago\s+handshake 30s ago, 1\/2 B/);
  t.ok(second.endsWith(shortId(rows[0]!.peerId)), 'a short id');
  t.equal(shortId('12D3KooWQx7yAbCdEfGhIjKlMnOph2Z9'), '…KlMnOph2Z9');
  const wide = peersTable(rows, { now, wide: true });
  t.match(wide, /2026-12-06T11:59:58Z/, '--wide: ISO times');
  t.match(wide, /12D3KooWQx7yAbCdEfGhIjKlMnOph2Z9$/m, '--wide: full ids');
});
