/**
 * A restarted host takes its unchanged records back with their version (the rank of a claim), and
 * writes a new version of anything that changed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Discovery } from '../../discovery/discovery.js';
import { PreviousLife } from '../../discovery/previous-life.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-prevlife-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const opts = { name: 'h1', vtep: '198.51.100.1', stateDir: dir };
const ep = { network: 'blue', id: 'c1', mac: '02:00:c6:12:00:05', ip: '198.18.0.5', vtep: '198.51.100.1', host: 'h1' };

t.test(
  'unchanged claims and endpoints keep their Lamport time across a restart; changed ones get a new one',
  async (t) => {
    const first = await Discovery.create(opts);
    const claim = await first.putIpamBlock({ network: 'blue', block: '198.18.0.5/32' });
    const endpoint = await first.putEndpoint(ep);
    await first.putIpamBlock({ network: 'blue', block: '198.18.0.16/28' });
    await first.putNetwork({ name: 'blue', vni: 100, subnet: '198.18.0.0/24' });
    await first.stop();

    const second = await Discovery.create(opts);
    const claimAgain = await second.putIpamBlock({ network: 'blue', block: '198.18.0.5/32' });
    t.equal(claimAgain.lamport, claim.lamport, 'the claim keeps its version (its rank)');
    t.ok(claim.s2 && claim.s2.length === 64, 'a format-2 signature');
    t.same(claimAgain.s2, claim.s2, 'with its signature (nothing re-signed)');
    const changed = await second.putEndpoint({ ...ep, name: 'web' });
    t.ok(changed.lamport > endpoint.lamport, 'an endpoint whose content changed gets a newer version');
    const again = await second.putIpamBlock({ network: 'blue', block: '198.18.0.5/32' });
    t.ok(again.lamport > claim.lamport, 'a second write of the same key in this life is a new version');
    const table = [...second.table.all()];
    t.notOk(
      table.some((r) => r.kind === 'ipam-block' && r.key === 'blue/198.18.0.16/28'),
      'a record of the last life not written again is not in the table',
    );
    await second.stop();
  },
);

t.test('only an identical body is taken, each at most once', async (t) => {
  const life = new PreviousLife();
  life.load([
    {
      kind: 'ipam-block',
      key: 'blue/198.18.0.0/28',
      owner: 'me',
      lamport: 7,
      value: { network: 'blue', block: '198.18.0.0/28' },
    },
    { kind: 'ipam-block', key: 'blue/198.18.0.16/28', owner: 'me', lamport: 8, deleted: true },
  ]);
  t.equal(life.size, 0, 'records without a format-2 body and tombstones are not kept');
  const first = await Discovery.create({ ...opts, stateDir: fs.mkdtempSync(path.join(dir, 'x')) });
  const rec = await first.putIpamBlock({ network: 'blue', block: '198.18.0.0/28' });
  life.load([rec]);
  t.equal(
    life.take('ipam-block', rec.key, { network: 'blue', block: '198.18.0.16/28' }),
    undefined,
    'another value: not taken',
  );
  life.load([rec]);
  t.equal(life.take('ipam-block', rec.key, null), undefined, 'a deletion: not taken');
  life.load([rec]);
  t.equal(life.take('ipam-block', rec.key, { network: 'blue', block: '198.18.0.0/28' }), rec, 'the same value: taken');
  t.equal(life.take('ipam-block', rec.key, { network: 'blue', block: '198.18.0.0/28' }), undefined, 'once');
  await first.stop();
});
