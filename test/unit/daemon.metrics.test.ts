/**
 * The metrics listener with a fake agent: names (one per thing, a direction label instead of _in/_out
 * pairs), the reconcile-duration histogram, the drift gauge per network, /healthz and /readyz; and the
 * dashboard and alert rules in packaging/ use only metrics the agent exports.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Agent } from '../../agent/agent.js';
import type { Discovery } from '../../discovery/discovery.js';
import { createMetrics, startMetricsServer } from '../../daemon/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
let listener: ((ms: number) => void) | undefined;
let ready = { ready: false, reasons: ['no member answered yet (first sync pending)'] };
const fakeAgent = {
  counters: {
    reconcileRuns: 3,
    reconcileChanges: 2,
    reconcileErrors: 0,
    kernelEvents: 0,
    kernelEventOverruns: 0,
    eventRepairs: 0,
    reconcileSkipped: 0,
  },
  peers: () => [],
  endpoints: () => [{ status: 'local' }, { status: 'remote' }],
  refusals: { counts: () => new Map([['mac-in-use', 1]]), total: 4 },
  egressCounters: () => ({ runs: 1, changes: 1, errors: 0 }),
  dataPlaneDrops: async () => ({ 'non-member': 2 }),
  policyFiltered: () => [],
  peersWithWireguard: async () => [
    { name: 'h2', wireguard: { latestHandshake: new Date().toISOString(), rxBytes: 10, txBytes: 20 } },
  ],
  localEndpoints: () => [],
  nameConflicts: () => [],
  dnsCounters: () => undefined,
  onReconcileDuration: (fn: (ms: number) => void) => (listener = fn),
  fdbReport: async () => [
    { network: 'blue', drift: 0 },
    { network: 'red', drift: 3 },
  ],
} as unknown as Agent;
const fakeDiscovery = {
  members: () => [{ state: 'alive' }, { state: 'dead' }],
  membership: { get: () => undefined },
  interests: { names: () => ['blue', 'red'] },
  scopeFetches: () => ({ count: 2, lastMs: 250, timedOut: 0 }),
  stats: {
    gossipIn: 7,
    gossipOut: 5,
    dropped: { malformed: 1 },
    rateLimited: {},
    rateLimitedByPath: { sync: 0 },
    syncRuns: 1,
    syncFailures: 0,
    syncFollowUps: 2,
    syncSummaryBytes: { buckets: 1200, partitions: 0 },
    probeFailures: 0,
  },
} as unknown as Discovery;

const reg = createMetrics(fakeAgent, fakeDiscovery);
const server = await startMetricsServer(reg, '127.0.0.1:0', () => ready);
t.teardown(() => server.close());
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const get = async (p: string) => {
  const r = await fetch(base + p);
  return { status: r.status, text: await r.text() };
};

/** Every series name the agent exports (a histogram's _bucket, _sum and _count). */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of (await reg.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

t.test('names: one per thing, labels for directions and reasons', async (t) => {
  listener?.(4);
  listener?.(40);
  const text = (await get('/metrics')).text;
  t.match(text, /^vxmesh_gossip_messages_total\{direction="in"\} 7$/m);
  t.match(text, /^vxmesh_gossip_messages_total\{direction="out"\} 5$/m);
  t.match(text, /^vxmesh_sync_follow_ups_total 2$/m, 'follow-up syncs');
  t.match(text, /^vxmesh_sync_summary_bytes_total\{form="buckets"\} 1200$/m, 'summary bytes by form');
  t.notMatch(text, /vxmesh_gossip_messages_(in|out)_total/, 'no _in/_out pairs');
  t.match(text, /^vxmesh_endpoint_refusals\{reason="mac-in-use"\} 1$/m, 'refused now, by reason');
  t.match(text, /^vxmesh_endpoint_refusals_total 4$/m, 'refusals since start');
  t.notMatch(text, /vxmesh_endpoints_refused/, 'the old name is gone');
  t.match(text, /^vxmesh_network_drift\{network="red"\} 3$/m, 'drift per network');
  t.match(text, /^vxmesh_network_drift\{network="blue"\} 0$/m);
  t.match(text, /^vxmesh_reconcile_duration_seconds_bucket\{le="0.005"\} 1$/m, 'a histogram of reconcile durations');
  t.match(text, /^vxmesh_reconcile_duration_seconds_bucket\{le="0.05"\} 2$/m);
  t.match(text, /^vxmesh_reconcile_duration_seconds_count 2$/m);
  t.match(text, /^vxmesh_networks_of_interest 2$/m, 'networks whose records this host holds');
  t.match(text, /^vxmesh_first_attach_fetches_total 2$/m);
  t.match(text, /^vxmesh_first_attach_fetch_seconds 0.25$/m, 'the last first attach fetch, in seconds');
  t.match(text, /^process_cpu_seconds_total /m, 'process metrics');
  t.match(text, /^nodejs_eventloop_lag_seconds /m, 'Node.js metrics');
});

t.test('/healthz and /readyz', async (t) => {
  t.same(await get('/healthz'), { status: 200, text: 'ok\n' });
  const not = await get('/readyz');
  t.equal(not.status, 503, 'not ready before the first sync');
  t.match(not.text, /first sync pending/);
  ready = { ready: true, reasons: [] };
  t.same(await get('/readyz'), { status: 200, text: 'ready\n' });
  t.equal((await get('/other')).status, 404);
});

const metricNamesIn = (expr: string): string[] =>
  [...expr.matchAll(/\b((?:vxmesh|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1] as string);

t.test('the Grafana dashboard queries only metrics the agent exports', async (t) => {
  const exported = await exportedNames();
  const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'packaging/grafana-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, expr: x.expr })));
  t.ok(exprs.length >= 10, `${exprs.length} queries`);
  for (const { panel, expr } of exprs) {
    const names = metricNamesIn(expr);
    t.ok(names.length > 0, `${panel}: queries a metric of ours`);
    for (const n of names) t.ok(exported.has(n), `${panel}: ${n} is exported`);
  }
});

t.test('the alert rules use only metrics the agent exports', async (t) => {
  const exported = await exportedNames();
  const rules = fs.readFileSync(path.join(ROOT, 'packaging/prometheus-alerts.yml'), 'utf8');
  const exprs = [...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] as string);
  t.ok(exprs.length >= 5, `${exprs.length} alerts`);
  for (const e of exprs) for (const n of metricNamesIn(e)) t.ok(exported.has(n), `${n} is exported`);
});
