/**
 * npm run chaos: the full chaos run (partition 30 s, kill loop 2 min, two hosts crashing together, reboot, read-only state
 * directory, full state directory, 10-minute churn soak), printed and saved to bench/results/chaos.json.
 * VXMESH_CHAOS_FAULTS=a,b picks faults; `storeOutage` runs the cluster on a real etcd (`--store`);
 * `dockerdRestart` runs on its own Docker hosts after the others. VXMESH_CHAOS_SOAK_S sets the soak's length
 * (the 1-hour soak: 3600); VXMESH_CHAOS_RESULT names the results file in bench/results. `combined`
 * (combined.ts): ten hosts (VXMESH_CHAOS_HOSTS) starting on the previous release, a rolling upgrade,
 * faults together for 600 s (VXMESH_CHAOS_COMBINED_S) with one host still on the previous release,
 * its upgrade last.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChaosRun, FULL, SHORT } from './scenario.js';
import type { FaultReport } from './faults.js';
import { dockerdRestart } from './docker-restart.js';
import { COMBINED_FULL, COMBINED_SHORT, CombinedRun } from './combined.js';
import { buildPreviousAgent } from '../fixtures/previous-release.js';

const soakS = process.env.VXMESH_CHAOS_SOAK_S;
if (soakS !== undefined && !/^[1-9][0-9]*$/.test(soakS))
  throw new Error(`VXMESH_CHAOS_SOAK_S: a whole number of seconds, not ${JSON.stringify(soakS)}`);
const d = { ...(process.env.VXMESH_CHAOS_SHORT === '1' ? SHORT : FULL), ...(soakS ? { soakS: Number(soakS) } : {}) };
const ALL = ['partition', 'killLoop', 'doubleCrash', 'reboot', 'readOnlyStateDir', 'fullStateDir', 'soak'] as const;
const OWN_CLUSTER = ['storeOutage', 'dockerdRestart', 'combined'] as const;
type Fault = (typeof ALL)[number] | (typeof OWN_CLUSTER)[number];
const faults = (process.env.VXMESH_CHAOS_FAULTS?.split(',') ?? [...ALL, ...OWN_CLUSTER]) as Fault[];
for (const f of faults)
  if (!([...ALL, ...OWN_CLUSTER] as string[]).includes(f))
    throw new Error(`VXMESH_CHAOS_FAULTS: unknown fault ${f} (known: ${[...ALL, ...OWN_CLUSTER].join(', ')})`);
const whole = (name: string, fallback: number): number => {
  const v = process.env[name];
  if (v === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name}: a whole number, not ${JSON.stringify(v)}`);
  return Number(v);
};
const combinedPlan = {
  ...(process.env.VXMESH_CHAOS_SHORT === '1' ? COMBINED_SHORT : COMBINED_FULL),
  ...(process.env.VXMESH_CHAOS_HOSTS ? { hosts: whole('VXMESH_CHAOS_HOSTS', 10) } : {}),
  ...(process.env.VXMESH_CHAOS_COMBINED_S ? { faultS: whole('VXMESH_CHAOS_COMBINED_S', 600) } : {}),
};
if (combinedPlan.hosts < 3) throw new Error('VXMESH_CHAOS_HOSTS: at least 3 hosts');
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
// Every host starts on the previous release; all but the last are upgraded under load; the faults
// run together with the last one still on the previous release; then it is upgraded too.
if (faults.includes('combined')) {
  const previous = buildPreviousAgent();
  const n = combinedPlan.hosts;
  const all = Array.from({ length: n }, (_, k) => k + 1);
  try {
    const run = await CombinedRun.create(combinedPlan, { previous, previousHosts: all });
    try {
      report(await run.rollingUpgrade(all.slice(0, -1)));
      report(await run.combinedFaults());
      report(await run.rollingUpgrade([n]));
    } finally {
      await run.teardown();
    }
  } finally {
    previous.remove();
  }
}
fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
fs.writeFileSync(
  path.join('bench', 'results', out),
  `${JSON.stringify({ date: new Date().toISOString(), durations: d, faults: reports }, null, 2)}\n`,
);
