/**
 * npm run chaos: the full chaos run (partition 30 s, kill loop 2 min, two hosts crashing together, reboot, read-only state
 * directory, full state directory, 10-minute churn soak), printed and saved to bench/results/chaos.json.
 * VXMESH_CHAOS_FAULTS=a,b picks faults; `storeOutage` runs the cluster on a real etcd (`--store`);
 * `dockerdRestart` runs on its own Docker hosts after the others.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChaosRun, FULL, SHORT } from './scenario.js';
import type { FaultReport } from './faults.js';
import { dockerdRestart } from './docker-restart.js';

const d = process.env.VXMESH_CHAOS_SHORT === '1' ? SHORT : FULL;
const ALL = ['partition', 'killLoop', 'doubleCrash', 'reboot', 'readOnlyStateDir', 'fullStateDir', 'soak'] as const;
type Fault = (typeof ALL)[number] | 'storeOutage' | 'dockerdRestart';
const faults = (process.env.VXMESH_CHAOS_FAULTS?.split(',') ?? [...ALL, 'storeOutage', 'dockerdRestart']) as Fault[];
for (const f of faults)
  if (!([...ALL, 'storeOutage', 'dockerdRestart'] as string[]).includes(f))
    throw new Error(`VXMESH_CHAOS_FAULTS: unknown fault ${f} (known: ${ALL.join(', ')}, storeOutage, dockerdRestart)`);
const out = process.env.VXMESH_CHAOS_RESULT ?? 'chaos.json';
const reports: FaultReport[] = [];
const report = (r: FaultReport) => {
  reports.push(r);
  console.log(
    `${r.fault}: ${r.pingsLost} of ${r.pingsSent} pings lost, converged in ${r.convergenceMs ?? '-'} ms, errors: ${r.errors.length ? r.errors.join('; ') : 'none'}`,
  );
};
// The gossip-mode faults on one cluster; the store outage on a cluster of `--store` agents (in store
// mode a partition's minority cannot allocate at all, a different rule); Docker on its own hosts.
const gossipFaults = faults.filter((f): f is (typeof ALL)[number] => (ALL as readonly string[]).includes(f));
for (const [wanted, store] of [
  [gossipFaults, false],
  [faults.includes('storeOutage') ? ['storeOutage' as const] : [], true],
] as const) {
  if (wanted.length === 0) continue;
  const run = await ChaosRun.create(d, { store });
  try {
    for (const fault of wanted) report(await run[fault]());
  } finally {
    await run.teardown();
  }
}
if (faults.includes('dockerdRestart')) report(await dockerdRestart(d.convergeTimeoutMs));
fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
fs.writeFileSync(
  path.join('bench', 'results', out),
  `${JSON.stringify({ date: new Date().toISOString(), durations: d, faults: reports }, null, 2)}\n`,
);
