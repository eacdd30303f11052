/**
 * Convergence of N discovery members in ONE process (one event loop, loopback addresses 127.0.0.x),
 * run by bench/discovery.ts inside a fresh network namespace so that the namespace's loopback
 * counters are exactly the cluster's wire bytes. Prints one JSON line with the results.
 *
 *   usage: node discovery-inproc.js N UPDATES GAP_MS
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Discovery } from '../discovery/discovery.js';

const [n, updates, gapMs] = process.argv.slice(2).map(Number) as [number, number, number];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const RAW_TOPIC = 'vxmesh-bench/raw';

function loBytes(): number {
  const j = JSON.parse(execFileSync('ip', ['-s', '-j', 'link', 'show', 'lo']).toString()) as Array<{
    stats64: { tx: { bytes: number } };
  }>;
  return j[0]?.stats64.tx.bytes ?? 0;
}
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

execFileSync('ip', ['link', 'set', 'lo', 'up']);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-bench-'));
const members: Discovery[] = [];
const ip = (i: number) => `127.0.0.${10 + i}`;
try {
  for (let i = 0; i < n; i++) {
    const d = await Discovery.create({
      name: `m${i}`,
      vtep: `198.51.100.${10 + i}`,
      listen: `${ip(i)}:7946`,
      seeds: [0, 1, 2].filter((s) => s < n && s !== i).map((s) => `${ip(s)}:7946`),
      stateDir: path.join(root, `m${i}`),
    });
    members.push(d);
  }
  // Start in order so seeds are up; the rest join through them.
  for (const d of members) await d.start();
  const deadline = Date.now() + 60_000;
  while (!members.every((d) => d.members().filter((m) => m.state === 'alive').length === n)) {
    if (Date.now() > deadline) throw new Error('cluster did not form');
    await sleep(200);
  }
  await sleep(3000);
  await members[0]?.putNetwork({ name: 'blue', vni: 100, subnet: '198.18.0.0/16' });
  await sleep(500);

  // Baseline: bare gossipsub messages among the same nodes.
  const rawArr = new Map<string, number[]>();
  for (const d of members) {
    const ps = d.libp2p?.services.pubsub;
    ps?.subscribe(RAW_TOPIC);
    ps?.addEventListener('message', (e) => {
      if (e.detail.topic !== RAW_TOPIC) return;
      const id = Buffer.from(e.detail.data).toString();
      (rawArr.get(id) ?? rawArr.set(id, []).get(id))?.push(performance.now());
    });
  }
  await sleep(3000); // mesh for the new topic
  const rawSent = new Map<string, number>();
  for (let u = 0; u < updates; u++) {
    const id = `raw${u}`;
    rawSent.set(id, performance.now());
    void members[u % n]?.libp2p?.services.pubsub.publish(RAW_TOPIC, Buffer.from(id));
    await sleep(gapMs);
  }
  await sleep(2000);
  const rawLat = [...rawSent]
    .filter(([id]) => (rawArr.get(id)?.length ?? 0) >= n - 1)
    .map(([id, t0]) => Math.max(...(rawArr.get(id) ?? [])) - t0);

  // Idle phase.
  const idleMs = updates * gapMs;
  const b0 = loBytes();
  const c0 = cpuMs();
  await sleep(idleMs);
  const b1 = loBytes();
  const c1 = cpuMs();

  // Updates: an endpoint written on one member; arrival = the record merged on each other member.
  const arr = new Map<string, number[]>();
  for (const d of members) {
    d.on('record', (rec: { kind: string; key: string }) => {
      if (rec.kind === 'endpoint') (arr.get(rec.key) ?? arr.set(rec.key, []).get(rec.key))?.push(performance.now());
    });
  }
  const sent = new Map<string, number>();
  const t0 = performance.now();
  for (let u = 0; u < updates; u++) {
    const i = u % n;
    const key = `blue/u${u}`;
    sent.set(key, performance.now());
    void members[i]?.putEndpoint({
      network: 'blue',
      id: `u${u}`,
      mac: `02:aa:00:${(u >> 8).toString(16).padStart(2, '0')}:${(u & 255).toString(16).padStart(2, '0')}:01`,
      ip: `198.18.${200 + (u >> 8)}.${u & 255 || 1}`,
      vtep: `198.51.100.${10 + i}`,
      host: `m${i}`,
    });
    await sleep(gapMs);
  }
  const until = Date.now() + 10_000;
  while ([...sent.keys()].some((k) => (arr.get(k)?.length ?? 0) < n - 1) && Date.now() < until) await sleep(100);
  const elapsed = performance.now() - t0;
  const b2 = loBytes();
  const c2 = cpuMs();
  const lat = [...sent]
    .filter(([k]) => (arr.get(k)?.length ?? 0) >= n - 1)
    .map(([k, s]) => Math.max(...(arr.get(k) ?? [])) - s);
  const scale = elapsed / idleMs;
  const rssMb = process.memoryUsage().rss / 1024 / 1024;
  process.stdout.write(
    `${JSON.stringify({
      n,
      p50_ms: +pct(lat, 50).toFixed(1),
      p99_ms: +pct(lat, 99).toFixed(1),
      max_ms: +Math.max(...lat).toFixed(1),
      raw_p50_ms: +pct(rawLat, 50).toFixed(1),
      raw_p99_ms: +pct(rawLat, 99).toFixed(1),
      ratio_p99_vs_raw: +(pct(lat, 99) / pct(rawLat, 99)).toFixed(2),
      bytes_per_update: Math.round((b2 - b1 - (b1 - b0) * scale) / updates),
      cpu_ms_per_update: +((c2 - c1 - (c1 - c0) * scale) / updates).toFixed(2),
      rss_mb_process: +rssMb.toFixed(1),
      lost: updates - lat.length,
    })}\n`,
  );
} finally {
  await Promise.all(members.map((d) => d.stop({ leave: false }).catch(() => undefined)));
  fs.rmSync(root, { recursive: true, force: true });
}
process.exit(0);
