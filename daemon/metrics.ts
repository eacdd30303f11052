/** Prometheus metrics (prom-client), read from the agent's counters when scraped. */
import { policyDrops } from '../dataplane/policy-filter.js';
import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { vxmeshVersion } from '../core/version.js';
import { parseHostPort } from '../discovery/node.js';
import type { Agent } from '../agent/agent.js';
import type { RequestCounts } from '../core/http-json.js';
import type { Discovery } from '../discovery/discovery.js';

/** The APIs' request counts (the plugin's once it serves). */
export interface ApiRequestCounts {
  admin: RequestCounts;
  plugin?: RequestCounts;
}

/** Owners with a label of their own on a per-owner metric: whatever identities a key holder makes, the series stay bounded. */
const LABELLED_OWNERS = 32;
const OTHERS = '(others)';

export function createMetrics(agent: Agent, d: Discovery, requests?: ApiRequestCounts): Registry {
  const reg = new Registry();
  // process_* and nodejs_* (CPU, resident memory, heap, event-loop lag, GC).
  collectDefaultMetrics({ register: reg });
  new Gauge({
    name: 'vxmesh_build_info',
    help: "This agent's version and its Node.js (value 1)",
    labelNames: ['version', 'node'],
    registers: [reg],
    collect() {
      this.set({ version: vxmeshVersion(), node: process.version }, 1);
    },
  });
  for (const [api, name] of [
    ['admin', 'vxmesh_admin_requests_total'],
    ['plugin', 'vxmesh_docker_plugin_requests_total'],
  ] as const) {
    new Counter({
      name,
      help: `${api === 'admin' ? 'Admin API' : 'Docker plugin'} requests by outcome (ok, rejected: bad input answered 4xx, error: 5xx)`,
      labelNames: ['outcome'],
      registers: [reg],
      collect() {
        this.reset();
        const c = requests?.[api];
        if (!c) return;
        this.inc({ outcome: 'ok' }, c.ok);
        this.inc({ outcome: 'rejected' }, c.rejected);
        this.inc({ outcome: 'error' }, c.errors);
      },
    });
  }
  new Gauge({
    name: 'vxmesh_members',
    help: 'Cluster members by state',
    labelNames: ['state'],
    registers: [reg],
    collect() {
      this.reset();
      for (const s of ['alive', 'suspect', 'dead', 'left'])
        this.set({ state: s }, d.members().filter((m) => m.state === s).length);
    },
  });
  new Gauge({
    name: 'vxmesh_member_dataplane',
    help: "Other members by whether their endpoints are in this host's kernel (live, held, withdrawn, suspended, vtep-conflict)",
    labelNames: ['status'],
    registers: [reg],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const p of agent.peers()) if (!p.self) counts.set(p.dataplane, (counts.get(p.dataplane) ?? 0) + 1);
      for (const s of ['live', 'held', 'withdrawn', 'suspended', 'vtep-conflict'])
        this.set({ status: s }, counts.get(s) ?? 0);
    },
  });
  new Gauge({
    name: 'vxmesh_endpoints',
    help: 'Endpoints known, by status (local, remote, held, suspended)',
    labelNames: ['status'],
    registers: [reg],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const e of agent.endpoints()) counts.set(e.status, (counts.get(e.status) ?? 0) + 1);
      for (const s of ['local', 'remote', 'held', 'suspended']) this.set({ status: s }, counts.get(s) ?? 0);
    },
  });
  new Gauge({
    name: 'vxmesh_endpoint_refusals',
    help: 'Endpoint records of other hosts not programmed here now, by reason (vtep-not-owner, ip-not-claimed, ip-in-use, mac-in-use, local-conflict)',
    labelNames: ['reason'],
    registers: [reg],
    collect() {
      this.reset();
      const counts = agent.refusals.counts();
      for (const r of ['vtep-not-owner', 'ip-not-claimed', 'ip-in-use', 'mac-in-use', 'local-conflict'] as const)
        this.set({ reason: r }, counts.get(r) ?? 0);
    },
  });
  const fromCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [reg],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  fromCounter('vxmesh_reconcile_runs_total', 'Reconcile runs (per network)', () => agent.counters.reconcileRuns);
  fromCounter(
    'vxmesh_reconcile_skipped_total',
    'Overlays a change-started reconcile left alone (desired set as the last clean run wrote it)',
    () => agent.counters.reconcileSkipped,
  );
  fromCounter(
    'vxmesh_reconcile_periodic_deferred_total',
    'Periodic full compares of an overlay put off (its last one ended less than 20 times its duration ago)',
    () => agent.counters.periodicDeferred,
  );
  fromCounter(
    'vxmesh_reconcile_changes_total',
    'Kernel entries written or removed by reconcile',
    () => agent.counters.reconcileChanges,
  );
  fromCounter(
    'vxmesh_reconcile_errors_total',
    'Failed reconcile runs and entries',
    () => agent.counters.reconcileErrors,
  );
  fromCounter(
    'vxmesh_kernel_events_total',
    'Kernel notifications (links, static fdb/neighbour entries) seen in overlay namespaces',
    () => agent.counters.kernelEvents,
  );
  fromCounter(
    'vxmesh_kernel_event_echoes_total',
    'Kernel notifications that were all the echo of our own writes by difference (no reconcile run)',
    () => agent.counters.kernelEchoes,
  );
  fromCounter(
    'vxmesh_kernel_event_overruns_total',
    "Overruns of an overlay namespace's notification queue (a full compare follows)",
    () => agent.counters.kernelEventOverruns,
  );
  fromCounter(
    'vxmesh_drift_repaired_at_event_total',
    'Kernel entries rewritten by reconciles a kernel notification started',
    () => agent.counters.eventRepairs,
  );
  const durations = new Histogram({
    name: 'vxmesh_reconcile_duration_seconds',
    help: "Duration of each network's reconcile (kernel compared with the desired state, differences written)",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [reg],
  });
  agent.onReconcileDuration((ms) => durations.observe(ms / 1000));
  new Gauge({
    name: 'vxmesh_network_drift',
    help: "Differences between a network's kernel state and its desired state, as `vxmesh fdb NET --check` counts them (table rows not ok, egress and WireGuard changes pending): read at each scrape",
    labelNames: ['network'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const r of await agent.fdbReport()) this.set({ network: r.network }, r.drift);
    },
  });
  fromCounter(
    'vxmesh_egress_runs_total',
    'Egress reconcile runs (gateway links and packet-filter rules)',
    () => agent.egressCounters()?.runs ?? 0,
  );
  fromCounter(
    'vxmesh_egress_rule_changes_total',
    'Packet-filter chain changes made by egress reconcile (drift repaired included)',
    () => agent.egressCounters()?.changes ?? 0,
  );
  fromCounter(
    'vxmesh_egress_filter_events_total',
    'Polls that found the packet filter changed where egress writes (nf_tables notifications; each starts a run)',
    () => agent.egressCounters()?.filterEvents ?? 0,
  );
  fromCounter(
    'vxmesh_egress_errors_total',
    'Places (host or a network) where egress rules could not be applied',
    () => agent.egressCounters()?.errors ?? 0,
  );
  new Counter({
    name: 'vxmesh_vxlan_frames_dropped_total',
    help: "Data-plane frames the host's filters dropped, by reason (non-member: a plain network's VXLAN from no member's VTEP; not-through-wireguard: an encrypted network's VXLAN that did not arrive through WireGuard). Restart when the rules are rewritten",
    labelNames: ['reason'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const [reason, n] of Object.entries(await agent.dataPlaneDrops())) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'vxmesh_policy_dropped_packets_total',
    help: 'Packets a network\'s policy filter dropped on this host, by network and source (a connected network no rule allows, or "outside"). Restart when the filter is rewritten',
    labelNames: ['network', 'from'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const f of agent.policyFiltered())
        for (const [from, n] of await policyDrops(f.netns)) this.inc({ network: f.network, from }, n);
    },
  });
  new Gauge({
    name: 'vxmesh_wireguard_peer_handshake_age_seconds',
    help: "Seconds since each WireGuard peer's latest handshake (encrypted networks; -1: none yet)",
    labelNames: ['peer'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const p of await agent.peersWithWireguard())
        if ('wireguard' in p && p.wireguard)
          this.set(
            { peer: p.name },
            p.wireguard.latestHandshake ? (Date.now() - Date.parse(p.wireguard.latestHandshake)) / 1000 : -1,
          );
    },
  });
  new Counter({
    name: 'vxmesh_wireguard_peer_bytes_total',
    help: 'Bytes through each WireGuard peer (encrypted networks), by direction (rx, tx)',
    labelNames: ['peer', 'direction'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const p of await agent.peersWithWireguard())
        if ('wireguard' in p && p.wireguard) {
          this.inc({ peer: p.name, direction: 'rx' }, p.wireguard.rxBytes);
          this.inc({ peer: p.name, direction: 'tx' }, p.wireguard.txBytes);
        }
    },
  });
  new Gauge({
    name: 'vxmesh_published_ports',
    help: 'Host ports published to local endpoints',
    registers: [reg],
    collect() {
      this.set(agent.localEndpoints().reduce((n, e) => n + (e.publish?.length ?? 0), 0));
    },
  });
  new Gauge({
    name: 'vxmesh_endpoint_name_conflicts',
    help: 'Endpoints whose --name another live endpoint of the network holds (the earlier one keeps it)',
    registers: [reg],
    collect() {
      this.set(agent.nameConflicts().length);
    },
  });
  new Counter({
    name: 'vxmesh_dns_queries_total',
    help: "DNS questions to the networks' servers, by outcome (answered, nxdomain, forwarded, servfail, malformed, refused, limited)",
    labelNames: ['outcome'],
    registers: [reg],
    collect() {
      this.reset();
      const c = agent.dnsCounters();
      if (c)
        for (const k of ['answered', 'nxdomain', 'forwarded', 'servfail', 'malformed', 'refused', 'limited'] as const)
          this.inc({ outcome: k }, c[k]);
    },
  });
  fromCounter(
    'vxmesh_endpoint_refusals_total',
    'Endpoint refusals since start (each refused record counted once, when it appears)',
    () => agent.refusals.total,
  );
  new Counter({
    name: 'vxmesh_gossip_messages_total',
    help: 'Gossip messages by direction (in: accepted, out: published)',
    labelNames: ['direction'],
    registers: [reg],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, d.stats.gossipIn);
      this.inc({ direction: 'out' }, d.stats.gossipOut);
    },
  });
  new Counter({
    name: 'vxmesh_gossip_messages_dropped_total',
    help: 'Incoming messages dropped, by reason',
    labelNames: ['reason'],
    registers: [reg],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(d.stats.dropped)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'vxmesh_gossip_records_rate_limited_total',
    help: `Records (gossiped or from anti-entropy) ignored because their owner exceeded its record budget, by member (the ${LABELLED_OWNERS} largest; the rest as "(others)")`,
    labelNames: ['member'],
    registers: [reg],
    collect() {
      this.reset();
      const sorted = Object.entries(d.stats.rateLimited).sort(([, a], [, b]) => b - a);
      for (const [peerId, n] of sorted.slice(0, LABELLED_OWNERS))
        this.inc({ member: peerId === OTHERS ? OTHERS : (d.membership.get(peerId)?.name ?? 'non-member') }, n);
      const rest = sorted.slice(LABELLED_OWNERS).reduce((sum, [, n]) => sum + n, 0);
      if (rest > 0) this.inc({ member: OTHERS }, rest);
    },
  });
  fromCounter(
    'vxmesh_sync_records_rate_limited_total',
    'Of those, records offered by anti-entropy (not merged now; offered again by the next sync)',
    () => d.stats.rateLimitedByPath.sync,
  );
  new Gauge({
    name: 'vxmesh_networks_of_interest',
    help: 'Networks whose endpoint records and claims this host holds (it has endpoints in them, or had within the hold)',
    registers: [reg],
    collect() {
      this.set(d.interests.names().length);
    },
  });
  fromCounter(
    'vxmesh_first_attach_fetches_total',
    "First attaches of a network on this host that fetched the network's records from its members",
    () => d.scopeFetches().count,
  );
  new Gauge({
    name: 'vxmesh_first_attach_fetch_seconds',
    help: "Time the last first attach of a network took to fetch the network's records (0: none yet)",
    registers: [reg],
    collect() {
      this.set(d.scopeFetches().lastMs / 1000);
    },
  });
  fromCounter('vxmesh_sync_runs_total', 'Anti-entropy sync exchanges completed', () => d.stats.syncRuns);
  fromCounter('vxmesh_sync_failures_total', 'Anti-entropy sync exchanges failed', () => d.stats.syncFailures);
  fromCounter(
    'vxmesh_sync_follow_ups_total',
    'Anti-entropy syncs started again with a partner that held more than one sync takes (records past an owner burst)',
    () => d.stats.syncFollowUps,
  );
  new Counter({
    name: 'vxmesh_sync_summary_bytes_total',
    help: 'Bytes of anti-entropy summaries and digests sent, by form (buckets: two-level; partitions: per owner, with members of an earlier release)',
    labelNames: ['form'],
    registers: [reg],
    collect() {
      this.reset();
      for (const [form, n] of Object.entries(d.stats.syncSummaryBytes)) this.inc({ form }, n);
    },
  });
  fromCounter('vxmesh_probe_failures_total', 'Failed membership probes', () => d.stats.probeFailures);
  return reg;
}

/** What /readyz answers: ready, or the reasons it is not. */
export type Readiness = () => { ready: boolean; reasons: string[] };

/**
 * Serves /metrics, /healthz (the process answers: 200 while its event loop runs) and /readyz (200 once
 * the agent serves: its first sync with the cluster done; else 503 with the reasons).
 */
export async function startMetricsServer(reg: Registry, listen: string, readiness?: Readiness): Promise<http.Server> {
  const hp = parseHostPort(listen, 'metrics');
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url === '/readyz') {
      const r = readiness?.() ?? { ready: true, reasons: [] };
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(r.ready ? 'ready\n' : `not ready: ${r.reasons.join('; ')}\n`);
      return;
    }
    if (url !== '/metrics') {
      res.writeHead(404).end('see /metrics, /healthz, /readyz\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
      (e: unknown) => res.writeHead(500).end(String(e)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(hp.port, hp.host, () => resolve());
  });
  return server;
}
