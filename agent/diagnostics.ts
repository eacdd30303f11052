/** The fdb report: each overlay's kernel tables beside the desired ones, row by row, drift marked. */
import { planReconcile, type RemoteEndpoint } from '../dataplane/reconcile-plan.js';
import type { OverlayTables } from '../dataplane/dataplane.js';
import type { NetworkView } from './networks.js';
import { egressView, type EgressSync, type EgressView } from './egress-sync.js';
import type { EndpointEntry, OverlayDriver } from './ports.js';
import type { WireguardDrift, WireguardSync } from './wireguard-sync.js';

export type FdbStatus = 'ok' | 'missing' | 'stale' | 'wrong-vtep' | 'wrong-mac';

export interface FdbRow {
  table: 'fdb' | 'neigh';
  mac: string;
  ip?: string;
  desiredVtep?: string;
  kernelVtep?: string;
  kernelMac?: string;
  state?: string;
  status: FdbStatus;
  host?: string;
}

export interface FdbReport {
  network: string;
  vni: number;
  netns: string;
  rows: FdbRow[];
  /** Table rows not ok, plus egress rule changes pending. */
  drift: number;
  /** The network's egress on this host, with the rule changes a reconcile would make now. */
  egress?: EgressView;
  /** An encrypted network: the host's WireGuard peers beside what membership wants (each counts as drift). */
  wireguard?: WireguardDrift;
  /** Routing and policy between networks: links and filter changes a reconcile would make now. */
  policyDrift?: number;
}

/** Pure: one overlay's kernel tables against its desired remotes. */
export function compareTables(
  network: NetworkView,
  tables: OverlayTables,
  want: RemoteEndpoint[],
  hostOf: (mac: string) => string | undefined,
): FdbReport {
  const rows: FdbRow[] = [];
  const selfFdb = new Map(tables.fdb.filter((e) => e.self).map((e) => [e.mac, e]));
  const neigh = new Map(tables.neighbours.map((x) => [x.ip, x]));
  for (const w of want) {
    const f = selfFdb.get(w.mac);
    rows.push({
      table: 'fdb',
      mac: w.mac,
      ip: w.ip,
      desiredVtep: w.vtep,
      kernelVtep: f?.dst,
      status: !f ? 'missing' : f.dst !== w.vtep ? 'wrong-vtep' : 'ok',
      host: hostOf(w.mac),
    });
    // The ARP entry, and the IPv6 neighbour of an endpoint with an IPv6 address.
    for (const ip of [w.ip, w.ip6]) {
      if (ip === undefined) continue;
      const nb = neigh.get(ip);
      rows.push({
        table: 'neigh',
        mac: w.mac,
        ip,
        kernelMac: nb?.mac,
        status: !nb ? 'missing' : nb.mac !== w.mac ? 'wrong-mac' : 'ok',
        host: hostOf(w.mac),
      });
    }
  }
  const wantMacs = new Set(want.map((w) => w.mac));
  const wantIps = new Set(want.flatMap((w) => (w.ip6 === undefined ? [w.ip] : [w.ip, w.ip6])));
  for (const [mac, f] of selfFdb)
    if (!wantMacs.has(mac)) rows.push({ table: 'fdb', mac, kernelVtep: f.dst, status: 'stale' });
  // Bridge (master) entries on the VXLAN port: stale exactly when reconcile would remove them.
  for (const mac of planReconcile(tables.fdb, [], want).masterDelete)
    rows.push({ table: 'fdb', mac, status: 'stale', state: 'learned' });
  for (const [ip, nb] of neigh)
    if (!wantIps.has(ip)) rows.push({ table: 'neigh', mac: nb.mac ?? '', ip, kernelMac: nb.mac, status: 'stale' });
  return {
    network: network.name,
    vni: network.vni,
    netns: tables.netns,
    rows,
    drift: rows.filter((r) => r.status !== 'ok').length,
  };
}

/** The fdb report of every network with local endpoints (`vnis`), with its egress when egress is on. */
export async function fdbReports(
  nets: NetworkView[],
  vnis: number[],
  desired: Map<string, RemoteEndpoint[]>,
  endpoints: EndpointEntry[],
  driver: Pick<OverlayDriver, 'dump'>,
  egress?: EgressSync,
  wireguard?: Pick<WireguardSync, 'drift'>,
  policy?: { drift(vni: number): Promise<number> },
): Promise<FdbReport[]> {
  let wg: WireguardDrift | undefined;
  const hostOf = new Map(endpoints.map((e) => [`${e.network}/${e.mac}`, e.host]));
  const out: FdbReport[] = [];
  for (const vni of vnis) {
    const n = nets.find((x) => x.vni === vni);
    if (!n) continue;
    const report = compareTables(n, await driver.dump(vni), desired.get(n.name) ?? [], (mac) =>
      hostOf.get(`${n.name}/${mac}`),
    );
    if (egress) {
      report.egress = { ...egressView(n, true, egress.current), drift: await egress.drift(vni) };
      report.drift += report.egress.drift?.length ?? 0;
    }
    if (n.encrypted) {
      wg ??= wireguard ? await wireguard.drift() : { absent: true, missing: [], extra: [] };
      report.wireguard = wg;
      report.drift += (wg.absent ? 1 : 0) + wg.missing.length + wg.extra.length;
    }
    const policyDrift = policy ? await policy.drift(vni).catch(() => 1) : 0;
    if (policyDrift > 0) {
      report.policyDrift = policyDrift;
      report.drift += policyDrift;
    }
    out.push(report);
  }
  return out;
}
