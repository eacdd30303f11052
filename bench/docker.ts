/**
 * Docker benchmark (not a test): time from `docker run` on the vxmesh network until the new container's
 * first successful ping of a container on the other host, p50 over RUNS runs, next to
 * `docker run --network none` of the same image in the same run (the baseline); and the first
 * `docker run` of a host on a new network beside the next one on it.
 * Writes bench/results/docker.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DockerHosts, IMAGE } from '../sim/docker-hosts.js';

const RUNS = Number(process.env.BENCH_DOCKER_RUNS ?? 20);
const FIRST_RUNS = Number(process.env.BENCH_DOCKER_FIRST_RUNS ?? 5);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

const env = await DockerHosts.create(2, 'bd');
try {
  const [h1, h2] = [env.host(1), env.host(2)];
  await h1.startAgent();
  await h2.startAgent();
  await h1.createNetwork('bench', '198.18.60.0/24');
  await h2.createNetwork('bench', '198.18.60.0/24');
  await h2.docker(['run', '-d', '--name', 'target', '--network', 'bench', IMAGE, 'sleep', '3600']);
  const target = (
    await h2.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'target'])
  ).stdout.trim();
  // Warm-up (first run pays for the overlay namespace and image layers).
  await h1.docker([
    'run',
    '--rm',
    '--network',
    'bench',
    IMAGE,
    'sh',
    '-c',
    `until ping -c 1 -W 1 ${target} >/dev/null; do :; done`,
  ]);
  await h1.docker(['run', '--rm', '--network', 'none', IMAGE, 'true']);
  const overlay: number[] = [];
  const none: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    await h1.docker([
      'run',
      '--rm',
      '--network',
      'bench',
      IMAGE,
      'sh',
      '-c',
      `until ping -c 1 -W 1 ${target} >/dev/null; do :; done`,
    ]);
    overlay.push(performance.now() - t0);
    t0 = performance.now();
    await h1.docker(['run', '--rm', '--network', 'none', IMAGE, 'true']);
    none.push(performance.now() - t0);
  }
  // The first container of a host on a NEW network (its first address) beside the next one, on
  // fresh networks (FIRST_RUNS of them): the address block is claimed when the engine creates the
  // network, so the first container should not wait the IPAM settle period.
  const first: number[] = [];
  const next: number[] = [];
  for (let k = 0; k < FIRST_RUNS; k++) {
    const name = `fresh${k}`;
    const create = [
      'network',
      'create',
      '-d',
      'vxmesh',
      '--ipam-driver',
      'vxmesh',
      '--subnet',
      `198.18.${70 + k}.0/24`,
      '-o',
      `vxmesh.network=${name}`,
      name,
    ];
    await h1.docker(create);
    let t0 = performance.now();
    await h1.docker(['run', '--rm', '--network', name, IMAGE, 'true']);
    first.push(performance.now() - t0);
    t0 = performance.now();
    await h1.docker(['run', '--rm', '--network', name, IMAGE, 'true']);
    next.push(performance.now() - t0);
  }
  const result = {
    date: new Date().toISOString(),
    runs: RUNS,
    first_run_on_new_network_p50_ms: Math.round(pct(first, 50)),
    next_run_on_that_network_p50_ms: Math.round(pct(next, 50)),
    ratio_first_vs_next: +(pct(first, 50) / pct(next, 50)).toFixed(2),
    first_runs_ms: first.map(Math.round),
    next_runs_ms: next.map(Math.round),
    run_to_first_cross_host_ping_p50_ms: Math.round(pct(overlay, 50)),
    run_to_first_cross_host_ping_p90_ms: Math.round(pct(overlay, 90)),
    baseline_run_network_none_p50_ms: Math.round(pct(none, 50)),
    baseline_run_network_none_p90_ms: Math.round(pct(none, 90)),
    ratio_p50_vs_network_none: +(pct(overlay, 50) / pct(none, 50)).toFixed(2),
    overlay_runs_ms: overlay.map(Math.round),
    none_runs_ms: none.map(Math.round),
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'docker.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(
    `docker run on vxmesh → first cross-host ping: p50 ${result.run_to_first_cross_host_ping_p50_ms} ms (p90 ${result.run_to_first_cross_host_ping_p90_ms})`,
  );
  console.log(
    `docker run --network none (baseline):         p50 ${result.baseline_run_network_none_p50_ms} ms (p90 ${result.baseline_run_network_none_p90_ms})`,
  );
  console.log(`ratio ${result.ratio_p50_vs_network_none}`);
  console.log(
    `first docker run of a host on a new network: p50 ${result.first_run_on_new_network_p50_ms} ms; the next one: ${result.next_run_on_that_network_p50_ms} ms (ratio ${result.ratio_first_vs_next}); written: bench/results/docker.json`,
  );
} finally {
  await env.teardown();
}
