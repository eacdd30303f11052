/** What the scale benchmarks share: agents started one after the other, their CPU and underlay bytes, their admin API. */
import { $ } from 'zx';
import { apiRequest } from '../cli/admin-client.js';
import type { Cluster } from '../sim/cluster.js';
import { cpuMsOf, sum } from './proc-stats.js';
import { sleep } from './wait.js';

interface Peer {
  state: string;
}

export async function hostTxBytes(c: Cluster, hosts: number[]): Promise<number> {
  const counts = await Promise.all(
    hosts.map(async (i) => {
      const r = await $`ip -n ${c.tb.host(i).netns} -s -j link show eth0`;
      return (JSON.parse(r.stdout) as Array<{ stats64: { tx: { bytes: number } } }>)[0]?.stats64.tx.bytes ?? 0;
    }),
  );
  return sum(counts);
}

export const pids = (c: Cluster, hosts: number[]) => hosts.map((i) => c.agents.get(i)?.child.pid ?? -1);
export const cpuOf = (c: Cluster, hosts: number[]) => sum(pids(c, hosts).map(cpuMsOf));
export const range = (n: number) => Array.from({ length: n }, (_, k) => k + 1);
export const api = <T>(c: Cluster, i: number, method: string, p: string, body?: unknown) =>
  apiRequest<T>(c.socket(i), method, p, body, 120_000);

/** Starts the agents one after the other (each joins through hosts 1-3); resolves with the last start's time. */
export async function startAgents(c: Cluster, n: number, args: string[]): Promise<number> {
  let lastStart = 0;
  for (let i = 1; i <= n; i++) {
    lastStart = performance.now();
    await c.startAgent(i, { args, join: [1, 2, 3].filter((j) => j < i), readyTimeoutMs: 120_000 });
  }
  return lastStart;
}

/** ms from `since` until every agent has seen all n members alive (each agent's first time, the latest). */
export async function allAlive(c: Cluster, n: number, since: number, timeoutMs: number): Promise<number | null> {
  const firstAll = new Map<number, number>();
  const end = performance.now() + timeoutMs;
  while (firstAll.size < n && performance.now() < end) {
    await Promise.all(
      range(n)
        .filter((i) => !firstAll.has(i))
        .map(async (i) => {
          const peers = await api<Peer[]>(c, i, 'GET', '/v1/peers').catch(() => []);
          if (peers.filter((p) => p.state === 'alive').length === n) firstAll.set(i, performance.now());
        }),
    );
    await sleep(250);
  }
  return firstAll.size === n ? Math.round(Math.max(...firstAll.values()) - since) : null;
}
