/**
 * The optional etcd store against a real etcd server (Debian etcd-server) on loopback: network
 * definitions and address allocations by compare-and-swap, contention, errors naming the field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ValidationError } from '../../core/errors.js';
import { EtcdStore, parseStoreUrl } from '../../store/etcd-store.js';
import { StoreError } from '../../core/errors.js';
import type { NetworkValue } from '../../core/records.js';
import { startEtcd } from '../../sim/etcd-server.js';
import { Testbed } from '../../sim/testbed.js';

const tb = await Testbed.create({ hosts: 0, tag: 'etcd' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-etcd-'));
t.teardown(async () => {
  await tb.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});
const etcd = await startEtcd(tb, { dir });
// Two agents' worth of clients, each under the same prefix.
const a = await EtcdStore.connect(etcd.url, { prefix: '/t1/' });
const b = await EtcdStore.connect(etcd.url, { prefix: '/t1/' });
t.teardown(() => {
  a.close();
  b.close();
});

const fieldOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof ValidationError ? e.field : `other: ${String(e)}`;
  }
};

t.test('store URLs', async (t) => {
  t.same(parseStoreUrl('etcd://198.51.100.11:2379'), ['http://198.51.100.11:2379']);
  t.same(parseStoreUrl('etcd://a:1,b.example:2379'), ['http://a:1', 'http://b.example:2379']);
  for (const bad of [
    '',
    'http:/x',
    'etcd://',
    'etcd://host',
    'etcd://host:0',
    'etcd://host:99999',
    'redis://h:1',
    'etcd://h:1,',
  ]) {
    t.equal(await fieldOf((async () => parseStoreUrl(bad))()), 'store', `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('an unreachable store is a clear error, not a hang', async (t) => {
  const t0 = Date.now();
  const err = await EtcdStore.connect('etcd://127.0.0.1:9', { timeoutMs: 1500 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof StoreError, 'StoreError');
  t.match(String(err), /store: connect failed at http:\/\/127\.0\.0\.1:9/);
  t.ok(Date.now() - t0 < 10_000, `gave up after ${Date.now() - t0} ms`);
});

t.test('networks: created once by name and VNI, idempotent, conflicts name the field', async (t) => {
  const blue: NetworkValue = { name: 'blue', vni: 100, subnet: '198.18.0.0/24', gateway: '198.18.0.1' };
  t.same(await a.createNetwork(blue), { created: true, network: blue });
  t.same(await b.createNetwork(blue), { created: false, network: blue }, 'the same definition again is fine');
  t.equal(await fieldOf(b.createNetwork({ ...blue, subnet: '198.18.1.0/24' })), 'name', 'same name, other subnet');
  t.equal(await fieldOf(b.createNetwork({ name: 'green', vni: 100, subnet: '198.18.2.0/24' })), 'vni', 'VNI taken');
  t.same(
    (await b.networks()).map((n) => n.name),
    ['blue'],
    'the refused ones left nothing behind',
  );
  // Two clients racing for one VNI under different names: exactly one wins.
  const race = await Promise.allSettled([
    a.createNetwork({ name: 'r1', vni: 200, subnet: '198.18.3.0/24' }),
    b.createNetwork({ name: 'r2', vni: 200, subnet: '198.18.4.0/24' }),
  ]);
  t.equal(
    race.filter((r) => r.status === 'fulfilled').length,
    1,
    'one of two concurrent creates with one VNI succeeds',
  );
  t.equal((await a.networks()).filter((n) => n.vni === 200).length, 1, 'one network holds VNI 200');
});

t.test('the watch reports definitions made by another client', async (t) => {
  let calls = 0;
  const stop = await a.watchNetworks(() => calls++);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(calls, 0, 'no call before a change');
  await b.createNetwork({ name: 'watched', vni: 300, subnet: '198.18.5.0/24' });
  const t0 = Date.now();
  while (calls === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  t.ok(calls > 0, `the watcher saw the put after ${Date.now() - t0} ms`);
  await stop();
});

t.test('addresses: 4 concurrent allocators x 30 are unique; reserve and release', async (t) => {
  const net: NetworkValue = { name: 'alloc', vni: 400, subnet: '198.18.6.0/25', gateway: '198.18.6.1' };
  await a.createNetwork(net);
  // Like four agents, each allocating one address after the other, all at the same time.
  const stream = async (s: EtcdStore, host: string) => {
    const out: string[] = [];
    for (let i = 0; i < 30; i++) out.push(await s.allocate(net, host));
    return out;
  };
  const got = (await Promise.all([stream(a, 'hA'), stream(b, 'hB'), stream(a, 'hA'), stream(b, 'hB')])).flat();
  t.equal(new Set(got).size, 120, '120 unique addresses');
  t.notOk(
    got.includes('198.18.6.1') || got.includes('198.18.6.0') || got.includes('198.18.6.127'),
    'gateway, network and broadcast never handed out',
  );
  const held = await a.allocations('alloc');
  t.equal(held.size, 120, 'the store holds all 120');
  t.equal([...held.values()].filter((h) => h.host === 'hA').length, 60, 'each attributed to its host');
  // Explicit addresses: free → reserved; held by another host → error naming ip; own → fine.
  const mineA = got[0] as string;
  t.equal(await fieldOf(b.reserve('alloc', mineA, 'hB')), 'ip', 'an address another host holds');
  await t.resolves(a.reserve('alloc', mineA, 'hA'), 'its holder may reserve it again');
  t.equal(await b.release('alloc', mineA, 'hB'), false, 'only the holder releases');
  t.equal(await a.release('alloc', mineA, 'hA'), true, 'the holder releases');
  await t.resolves(b.reserve('alloc', mineA, 'hB'), 'then another host can take it');
  // The last free addresses, then exhaustion.
  const rest: string[] = [];
  for (;;) {
    try {
      rest.push(await a.allocate(net, 'hA'));
    } catch (e) {
      t.match(String(e), /no free address left in the store/, 'a full subnet is an error');
      break;
    }
  }
  t.equal(120 + rest.length, 125, 'every usable address was handed out (128 minus network, broadcast, gateway)');
  t.equal(await fieldOf(a.removeNetwork('alloc')), 'network', 'a network with allocations cannot be removed');
});

t.test('remove: definition and VNI go together', async (t) => {
  await a.createNetwork({ name: 'gone', vni: 500, subnet: '198.18.7.0/24' });
  t.equal(await a.removeNetwork('gone'), true);
  t.equal(await a.removeNetwork('gone'), false, 'a second remove finds nothing');
  t.same(
    await b.createNetwork({ name: 'again', vni: 500, subnet: '198.18.7.0/24' }).then((r) => r.created),
    true,
    'the VNI is free again',
  );
});

t.test('a store that goes away: calls fail with StoreError, naming the store', async (t) => {
  await etcd.stop();
  const err = await a.network('blue').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof StoreError, `StoreError: ${String(err)}`);
  t.match(String(err), /store: read network failed/);
});
