/**
 * `vxmesh fdb`: the kernel's fdb and neighbour tables of each overlay beside what the cluster says
 * they should hold, row by row (ok / missing / stale / wrong-vtep / wrong-mac). Without a reachable
 * agent it prints the kernel tables alone.
 */
import { NUD_NOARP, NUD_PERMANENT } from '../../dataplane/netlink/constants.js';
import { readOverlayTables, type VxlanTables } from '../../dataplane/tables.js';
import { AgentUnavailable, apiRequest } from '../admin-client.js';
import type { FdbReport, HostFdbReport } from '../../agent/agent.js';
import { clusterClean } from '../../agent/cluster-fdb.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';

const usage = `Usage: vxmesh fdb [NETWORK] [--check]
       vxmesh fdb --cluster [--check]
       vxmesh fdb --kernel [--netns NAME|PATH | --all] [--netns-prefix STR]

With an agent: for each network with endpoints on this host, every fdb (MAC → VTEP) and neighbour
(IP → MAC) entry the cluster wants next to what the kernel holds, marked ok, missing, stale (in the
kernel, not wanted; learned entries too), wrong-vtep or wrong-mac; and the network's egress (gateway
link, published ports, packet-filter rule changes pending: each counts as drift); for an encrypted
network, the host's WireGuard peers beside what membership wants (a peer missing, configured
otherwise or not wanted, or the interface missing: each counts as drift).
Without an agent (or with --kernel): the VXLAN devices' tables read directly from the kernel.
With --cluster: the local agent asks every live member for its report over the cluster's own
(key-protected) connections and prints one table: host, state, drift count, and every row that is
not ok. A live member that does not answer within 5 s is listed as "no answer".

Options:
  --check             exit 1 if anything is not ok (without an agent: if any learned entry exists;
                      with --cluster: if any host drifts or a live member does not answer)
  --cluster           every live member's report (needs the agent)
  --kernel            kernel tables only, do not ask the agent
  --netns NAME|PATH   (kernel mode) only this namespace
  --all               (kernel mode) every named namespace that holds a VXLAN device
  --netns-prefix STR  (kernel mode) overlay namespaces with this prefix (default "vx-")
${CLIENT_HELP}`;

function renderKernel(tables: VxlanTables[]): string {
  if (tables.length === 0) return 'no overlay namespaces found';
  return tables
    .map((t) => {
      const head = `${t.netns}  ${t.device}  vni ${t.vni}  local ${t.local ?? '-'}  port ${t.port ?? '-'}  mtu ${t.mtu}  learning ${t.learning ? 'on' : 'off'}  proxy ${t.proxy ? 'on' : 'off'}`;
      const fdb = formatTable(
        ['MAC', 'VTEP', 'FLAGS', 'STATE'],
        t.fdb.map((e) => [e.mac, e.dst ?? '-', e.flags.join(','), e.stateName]),
        '  ',
      );
      const neigh = formatTable(
        ['IP', 'MAC', 'STATE'],
        t.neighbours.map((n) => [n.ip, n.mac ?? '-', n.stateName]),
        '  ',
      );
      return `${head}\n  fdb (${t.fdb.length})\n${fdb}\n  neighbours (${t.neighbours.length})\n${neigh}`;
    })
    .join('\n\n');
}

export function kernelJson(tables: VxlanTables[]) {
  return tables.map(({ fdb, neighbours, ...rest }) => ({
    ...rest,
    fdb: fdb.map((e) => ({ mac: e.mac, vtep: e.dst ?? null, flags: e.flags, state: e.stateName })),
    neighbours: neighbours.map((n) => ({ ip: n.ip, mac: n.mac ?? null, state: n.stateName })),
  }));
}

function renderEgress(e: NonNullable<FdbReport['egress']>): string {
  if (e.mode !== 'nat') return `  egress ${e.mode}`;
  const published = e.published.map((p) => `${p.hostPort}/${p.protocol}→${p.ip}:${p.port}`).join(' ');
  const drift = e.drift?.length ? `\n${e.drift.map((d) => `    pending: ${d}`).join('\n')}` : '  rules ok';
  const six = e.transfer?.overlay6 !== undefined ? ` ${e.transfer.overlay6}` : '';
  return `  egress nat via ${e.hostIfname ?? '?'} ${e.transfer?.overlay ?? '?'}${six}${published ? `  published ${published}` : ''}${drift}`;
}

function renderWireguard(w: NonNullable<FdbReport['wireguard']>): string {
  if (w.absent) return '  wireguard: interface missing (encrypted frames go nowhere until it is rebuilt)';
  const parts = [
    ...w.missing.map((k) => `    peer missing or different: ${k}`),
    ...w.extra.map((k) => `    peer not wanted: ${k}`),
  ];
  return parts.length ? `  wireguard:\n${parts.join('\n')}` : '  wireguard peers ok';
}

function renderReport(reports: FdbReport[]): string {
  if (reports.length === 0) return 'no network has endpoints on this host';
  return reports
    .map((r) => {
      const rows = r.rows.map((x) => [
        x.table,
        x.mac,
        x.ip ?? '-',
        x.table === 'fdb' ? (x.desiredVtep ?? '-') : x.mac,
        x.table === 'fdb' ? (x.kernelVtep ?? '-') : (x.kernelMac ?? '-'),
        x.host ?? '-',
        x.status,
      ]);
      const egress =
        (r.egress ? `\n${renderEgress(r.egress)}` : '') + (r.wireguard ? `\n${renderWireguard(r.wireguard)}` : '');
      return `${r.network}  vni ${r.vni}  ${r.netns}  drift ${r.drift}${egress}\n${formatTable(['TABLE', 'MAC', 'IP', 'DESIRED', 'KERNEL', 'HOST', 'STATUS'], rows, '  ')}`;
    })
    .join('\n\n');
}

function renderCluster(hosts: HostFdbReport[]): string {
  const head = formatTable(
    ['HOST', 'STATE', 'STATUS', 'NETWORKS', 'DRIFT', 'MS'],
    hosts.map((h) => [
      h.host,
      h.state,
      h.status,
      String(h.reports.length),
      String(h.drift),
      h.ms === undefined ? '-' : String(h.ms),
    ]),
  );
  const details = hosts.flatMap((h) => {
    if (h.status === 'no-answer') return [`${h.host}: no answer: ${h.error ?? 'unknown'}`];
    return h.reports
      .filter((r) => r.drift > 0)
      .map((r) => {
        const rows = r.rows
          .filter((x) => x.status !== 'ok')
          .map((x) => [x.table, x.mac, x.ip ?? '-', x.status, x.host ?? '-']);
        const pending = r.egress?.drift?.length ? `\n  egress rule changes pending: ${r.egress.drift.length}` : '';
        return `${h.host}  ${r.network}  vni ${r.vni}  drift ${r.drift}${pending}\n${rows.length ? formatTable(['TABLE', 'MAC', 'IP', 'STATUS', 'HOST'], rows, '  ') : ''}`;
      });
  });
  return [head, ...details].join('\n\n');
}

/** A learned (dynamic) entry: neither permanent nor static. */
const isLearned = (t: VxlanTables) => t.fdb.some((e) => !(e.state & NUD_PERMANENT) && !(e.state & NUD_NOARP));

export const fdbCommand: Command = {
  name: 'fdb',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      check: { type: 'boolean' },
      kernel: { type: 'boolean' },
      netns: { type: 'string' },
      all: { type: 'boolean' },
      'netns-prefix': { type: 'string' },
      cluster: { type: 'boolean' },
    });
    if (values.cluster) {
      if (
        positionals.length > 0 ||
        values.kernel ||
        values.netns !== undefined ||
        values.all ||
        values['netns-prefix'] !== undefined
      )
        throw new UsageError('--cluster takes no network and no kernel-mode option');
      const hosts = await apiRequest<HostFdbReport[]>(socketOf(values), 'GET', '/v1/cluster/fdb');
      ctx.out(values.json ? JSON.stringify(hosts, null, 2) : renderCluster(hosts));
      return values.check && !clusterClean(hosts) ? 1 : 0;
    }
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    if (values.netns !== undefined && values.all) throw new UsageError('--netns and --all exclude each other');
    const kernelOnly =
      values.kernel || values.netns !== undefined || values.all || values['netns-prefix'] !== undefined;
    if (!kernelOnly) {
      try {
        const q = positionals[0] ? `?network=${encodeURIComponent(positionals[0])}` : '';
        const reports = await apiRequest<FdbReport[]>(socketOf(values), 'GET', `/v1/fdb${q}`);
        ctx.out(values.json ? JSON.stringify(reports, null, 2) : renderReport(reports));
        return values.check && reports.some((r) => r.drift > 0) ? 1 : 0;
      } catch (e) {
        if (!(e instanceof AgentUnavailable)) throw e;
        ctx.err(`vxmesh fdb: ${e.message}\nvxmesh fdb: showing the kernel tables only (nothing to compare them with)`);
      }
    }
    const tables = await readOverlayTables({ netns: values.netns, all: values.all, prefix: values['netns-prefix'] });
    ctx.out(values.json ? JSON.stringify(kernelJson(tables), null, 2) : renderKernel(tables));
    return values.check && tables.some(isLearned) ? 1 : 0;
  },
};
