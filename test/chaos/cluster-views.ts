/**
 * The end of a chaos run: is every host's view of the network the same? Endpoints (id, address, MAC,
 * host, name, status: `local` read as `remote`), IPAM claims (block and owner), no address held by
 * two live endpoints, and every name answered alike from a container on every host (its own
 * resolv.conf, i.e. that host's DNS server). Kernels are checked by `fdb --cluster --check`
 * (convergence) against these tables.
 */
import { $ } from 'zx';
import type { Cluster } from '../../sim/cluster.js';
import type { Ct } from './faults.js';

interface InspectView {
  endpointList: Array<{ id: string; ip?: string; mac: string; host: string; name?: string; status: string }>;
  ipamBlocks: Array<{ block: string; owner: string }>;
  ipamConflicts: unknown[];
}

export interface ViewsReport {
  /** Hosts whose endpoint list differs from the first host's, with what differs. */
  endpointDiffs: string[];
  /** Hosts whose IPAM claims differ from the first host's. */
  ipamDiffs: string[];
  /** Addresses held by two or more live endpoints in some host's view. */
  heldTwice: string[];
  ipamConflicts: number;
  /** Lookups of every named container from every host whose answer was not that container's address. */
  dnsDiffs: string[];
  endpoints: number;
  claims: number;
  names: number;
}

const diff = (a: string[], b: string[]) => [
  ...a.filter((x) => !b.includes(x)).map((x) => `-${x}`),
  ...b.filter((x) => !a.includes(x)).map((x) => `+${x}`),
];

/** Every host's view of `network`, compared; `named`: the containers whose names must resolve, one per host asked from. */
export async function compareViews(
  c: Cluster,
  hosts: number[],
  network: string,
  named: Array<Ct & { name: string }>,
): Promise<ViewsReport> {
  const views = await Promise.all(hosts.map((i) => c.vxJson<InspectView>(i, ['network', 'inspect', network])));
  const endpoints = views.map((v) =>
    v.endpointList
      .map(
        (e) =>
          `${e.id} ${e.ip ?? '-'} ${e.mac} ${e.host} ${e.name ?? '-'} ${e.status === 'local' ? 'remote' : e.status}`,
      )
      .sort(),
  );
  const claims = views.map((v) => v.ipamBlocks.map((b) => `${b.block} ${b.owner}`).sort());
  const r: ViewsReport = {
    endpointDiffs: [],
    ipamDiffs: [],
    heldTwice: [],
    ipamConflicts: 0,
    dnsDiffs: [],
    endpoints: endpoints[0]?.length ?? 0,
    claims: claims[0]?.length ?? 0,
    names: named.length,
  };
  hosts.forEach((h, k) => {
    const d = diff(endpoints[0] ?? [], endpoints[k] ?? []);
    if (d.length) r.endpointDiffs.push(`h${h}: ${d.join(', ')}`);
    const dc = diff(claims[0] ?? [], claims[k] ?? []);
    if (dc.length) r.ipamDiffs.push(`h${h}: ${dc.join(', ')}`);
    const live = (views[k]?.endpointList ?? []).filter((e) => e.status === 'local' || e.status === 'remote');
    const seen = new Map<string, number>();
    for (const e of live) if (e.ip) seen.set(e.ip, (seen.get(e.ip) ?? 0) + 1);
    for (const [ip, n] of seen) if (n > 1) r.heldTwice.push(`h${h}: ${ip} ×${n}`);
    r.ipamConflicts += views[k]?.ipamConflicts.length ?? 0;
  });
  // Names: from one container per host (`ip netns exec` gives it its resolv.conf: that host's server).
  const byName = named.map((ct) => ({ name: ct.name, ct }));
  const askers = hosts
    .map((h) => named.find((ct) => ct.host === h))
    .filter((x): x is Ct & { name: string } => x !== undefined);
  for (const asker of askers) {
    const out = await $`ip netns exec ${asker.netns} getent ahostsv4 ${byName.map((n) => n.name)}`.nothrow();
    // ahostsv4 prints each key's addresses; its first line per key carries the canonical name.
    const got = new Map<string, string>();
    for (const line of out.stdout.split('\n')) {
      const m = /^(\S+)\s+STREAM\s+(\S+)/.exec(line);
      if (m?.[1] && m[2]) got.set((m[2].split('.')[0] as string).toLowerCase(), m[1]);
    }
    for (const { name, ct } of byName)
      if (got.get(name) !== ct.ip)
        r.dnsDiffs.push(`from h${asker.host}: ${name} → ${got.get(name) ?? 'no answer'} (wanted ${ct.ip})`);
  }
  return r;
}
