/**
 * etcd store benchmark (not a test): address allocation through vxmesh's EtcdStore against the bare
 * etcd operation it is built on (one create-if-absent transaction per address, no search), both on
 * the same real etcd server (loopback) in the same run. Sequential and with 4 concurrent allocators.
 * Writes bench/results/store.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../store/etcd-store.js';
import type { NetworkValue } from '../core/records.js';
import { startEtcd } from '../sim/etcd-server.js';
import { Testbed } from '../sim/testbed.js';

const N = Number(process.env.BENCH_STORE_N ?? 1000);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-bench-etcd-'));
const tb = await Testbed.create({ hosts: 0, tag: 'bs' });
try {
  const etcd = await startEtcd(tb, { dir });
  const raw = new Etcd3({ hosts: etcd.url.replace('etcd://', 'http://') });
  const stores = await Promise.all([1, 2, 3, 4].map(() => EtcdStore.connect(etcd.url, { prefix: '/bench/' })));
  const [store] = stores as [EtcdStore];
  // A /20: room for N plus the concurrent round.
  const net = (name: string): NetworkValue => ({ name, vni: 100, subnet: '198.18.16.0/20', gateway: '198.18.16.1' });

  // Baseline: the bare create-if-absent transaction on a key chosen by the caller.
  let t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const key = `/raw/addresses/a/${i}`;
    await raw.if(key, 'Create', '==', 0).then(raw.put(key).value('{"host":"h1"}')).commit();
  }
  const rawMs = performance.now() - t0;

  // vxmesh: find a free address (keys of the network) and claim it, one after the other.
  t0 = performance.now();
  const seq: string[] = [];
  for (let i = 0; i < N; i++) seq.push(await store.allocate(net('seq'), 'h1'));
  const seqMs = performance.now() - t0;

  // 4 allocators at once (like 4 agents), N/4 each.
  t0 = performance.now();
  const conc = (
    await Promise.all(
      stores.map(async (s, k) => {
        const out: string[] = [];
        for (let i = 0; i < N / 4; i++) out.push(await s.allocate(net('conc'), `h${k + 1}`));
        return out;
      }),
    )
  ).flat();
  const concMs = performance.now() - t0;
  if (new Set(seq).size !== seq.length || new Set(conc).size !== conc.length)
    throw new Error('duplicate address handed out');

  const result = {
    date: new Date().toISOString(),
    allocations: N,
    baseline_bare_txn_per_s: Math.round(N / (rawMs / 1000)),
    store_sequential_per_s: Math.round(N / (seqMs / 1000)),
    store_4_concurrent_per_s: Math.round(N / (concMs / 1000)),
    ratio_sequential_vs_bare: +(rawMs / seqMs).toFixed(2),
    ratio_concurrent_vs_bare: +(rawMs / concMs).toFixed(2),
    distinct_addresses_sequential: new Set(seq).size,
    distinct_addresses_concurrent: new Set(conc).size,
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'store.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`bare etcd create-if-absent txn:        ${result.baseline_bare_txn_per_s}/s`);
  console.log(
    `vxmesh store allocate, sequential:     ${result.store_sequential_per_s}/s (ratio ${result.ratio_sequential_vs_bare})`,
  );
  console.log(
    `vxmesh store allocate, 4 concurrent:   ${result.store_4_concurrent_per_s}/s (ratio ${result.ratio_concurrent_vs_bare})`,
  );
  console.log(
    `distinct addresses: ${result.distinct_addresses_sequential} of ${N} sequential, ${result.distinct_addresses_concurrent} of ${conc.length} concurrent`,
  );
  console.log('written: bench/results/store.json');
  for (const s of stores) s.close();
  raw.close();
} finally {
  await tb.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
}
