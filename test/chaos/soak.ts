/**
 * The churn soak: attach/detach on every host for `soakS`, with every container pinging every other.
 * Measured: each agent's RSS and — with agents started under `node --expose-gc` (the chaos run does)
 * — its heap after a full garbage collection (`POST /v1/debug/heap`), every tenth of the run: a leak
 * climbs from sample to sample, the collector's timing moves RSS both ways; descriptors and kernel
 * entries before and after.
 */
import http from 'node:http';
import { $ } from 'zx';
import type { Cluster } from '../../sim/cluster.js';
import { kernelEntries, NETWORK, procUsage, startPings, type Ct, type FaultReport } from './faults.js';

export interface AfterGc {
  /** Heap used, heap reserved, memory outside the heap (buffers) after a forced collection, MB. */
  heapMb: number;
  heapTotalMb: number;
  externalMb: number;
}

/** The agent's memory after a forced collection, or undefined when it cannot (no --expose-gc). */
export function heapAfterGc(socketPath: string): Promise<AfterGc | undefined> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'POST', path: '/v1/debug/heap', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          const r = JSON.parse(body) as { heapUsedBytes?: number; heapTotalBytes?: number; externalBytes?: number };
          const mb = (x: number | undefined) => Math.round((x ?? NaN) / 1048576);
          resolve(
            res.statusCode === 200 && r.heapUsedBytes
              ? { heapMb: mb(r.heapUsedBytes), heapTotalMb: mb(r.heapTotalBytes), externalMb: mb(r.externalBytes) }
              : undefined,
          );
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end('{}');
  });
}

export async function churnSoak(
  c: Cluster,
  cts: Ct[],
  soakS: number,
  settle: (r: FaultReport) => Promise<void>,
): Promise<FaultReport> {
  const usage = () => [1, 2, 3, 4].map((i) => procUsage(c.agents.get(i)?.child.pid as number));
  const entries = async () => Promise.all([1, 2, 3, 4].map((i) => kernelEntries(c, i)));
  const start = { usage: usage(), entries: await entries() };
  const pings = startPings(cts);
  const end = Date.now() + soakS * 1000;
  // RSS and heap after a forced collection of each agent, every tenth of the run.
  const rssMb: number[][] = [[], [], [], []];
  const heapMb: Array<Array<AfterGc | undefined>> = [[], [], [], []];
  const sample = async () => {
    usage().forEach((u, k) => rssMb[k]?.push(Math.round(u.rssKb / 1024)));
    const heaps = await Promise.all([1, 2, 3, 4].map((i) => heapAfterGc(c.socket(i))));
    heaps.forEach((h, k) => heapMb[k]?.push(h));
  };
  const series = (pick: (a: AfterGc) => number) => heapMb.map((xs) => xs.map((x) => (x ? pick(x) : '-')).join(' '));
  await sample();
  const sampler = setInterval(() => void sample(), (soakS * 1000) / 10);
  const errors: string[] = [];
  let cycles = 0;
  await Promise.all(
    [1, 2, 3, 4].map(async (i) => {
      let k = 0;
      while (Date.now() < end) {
        const netns = await c.tb.addContainer(i, 100 + (k++ % 5));
        try {
          await c.vx(i, ['attach', NETWORK, '--netns', netns]);
          await c.vx(i, ['detach', NETWORK, '--netns', netns]);
          cycles++;
        } catch (e) {
          errors.push(`h${i} churn: ${(e as Error).message.split('\n')[0]}`);
        }
        await $`ip netns del ${netns}`.nothrow();
      }
    }),
  );
  clearInterval(sampler);
  await sample();
  const report: FaultReport = {
    fault: `attach/detach churn for ${soakS} s`,
    ...(await pings.stop()),
    errors,
    cycles,
    rssSamplesMb: rssMb.map((xs) => xs.join(' ')),
    heapAfterGcSamplesMb: series((a) => a.heapMb),
    heapTotalAfterGcSamplesMb: series((a) => a.heapTotalMb),
    externalAfterGcSamplesMb: series((a) => a.externalMb),
  };
  await settle(report);
  report.start = start;
  report.end = { usage: usage(), entries: await entries() };
  return report;
}
