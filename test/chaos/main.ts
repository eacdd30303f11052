/**
 * npm run chaos: the full chaos run (partition 30 s, kill loop 2 min, reboot, read-only state
 * directory, 10-minute churn soak), printed and saved to bench/results/chaos.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChaosRun, FULL, SHORT } from './scenario.js';

const d = process.env.VXMESH_CHAOS_SHORT === '1' ? SHORT : FULL;
const run = await ChaosRun.create(d);
try {
  for (const fault of ['partition', 'killLoop', 'reboot', 'readOnlyStateDir', 'soak'] as const) {
    const r = await run[fault]();
    console.log(`${r.fault}: ${r.pingsLost} of ${r.pingsSent} pings lost, converged in ${r.convergenceMs ?? '-'} ms, errors: ${r.errors.length ? r.errors.join('; ') : 'none'}`);
  }
  fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join('bench', 'results', 'chaos.json'), `${JSON.stringify({ date: new Date().toISOString(), durations: d, faults: run.reports }, null, 2)}\n`);
} finally {
  await run.teardown();
}
