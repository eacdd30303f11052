/** `vxmesh peers` and `vxmesh endpoints`. */
import type { EndpointRow } from '../../agent/endpoint-list.js';
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { peersTable, type PeerRow } from '../peers-table.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';

const peersUsage = `Usage: vxmesh peers [--wide]

Cluster members as this agent sees them: state (alive, suspect, dead, left), VTEP, incarnation and
the last successful probe, and DATAPLANE: whether its endpoints are in this host's kernel — live,
held (its agent is dead or gone but its host answers on the VTEP: its containers stay reachable),
withdrawn (suspect and its VTEP is silent: the host is gone), suspended (dead or gone, or its VTEP
now belongs to another member), vtep-conflict (a live member announces another live member's VTEP:
refused until that member is dead). WIREGUARD, where this host carries an encrypted network: the
peer's latest handshake and the bytes received/sent through it ("-": not a WireGuard peer here).
VERSION: the member's agent version, from its signed statement ("<0.2": a release that did not say).
Times are shown as ages and peer ids by their last 10 characters; --wide shows ISO times and full ids.

Options:
  --wide              full peer ids and ISO times
${CLIENT_HELP}`;

export const peersCommand: Command = {
  name: 'peers',
  usage: peersUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, { ...CLIENT_FLAGS, wide: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const r = await apiRequest<PeerRow[]>(socketOf(values), 'GET', '/v1/peers');
    if (values.json) ctx.out(JSON.stringify(r, null, 2));
    else ctx.out(peersTable(r, { wide: values.wide === true }));
    return 0;
  },
};

const endpointsUsage = `Usage: vxmesh endpoints [NETWORK]

Every endpoint of the cluster (or of one network): IP, MAC, host, VTEP, names and status (local, remote,
held: its agent is gone but its host answers, withdrawn: its agent is suspect and its host silent,
suspended: its host is gone or replaced, vtep-conflict: its host announces another member's VTEP).
NAMES: the endpoint's --name and aliases; "(name held by ID on HOST)" when an earlier live endpoint
of the network holds that name.

Options:
${CLIENT_HELP}`;

export const endpointsCommand: Command = {
  name: 'endpoints',
  usage: endpointsUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, CLIENT_FLAGS);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const q = positionals[0] ? `?network=${encodeURIComponent(positionals[0])}` : '';
    const r = await apiRequest<EndpointRow[]>(socketOf(values), 'GET', `/v1/endpoints${q}`);
    if (values.json) ctx.out(JSON.stringify(r, null, 2));
    else {
      const names = (e: EndpointRow) =>
        [e.name ?? '', ...(e.aliases ?? [])].filter(Boolean).join(',') +
        (e.nameHeldBy ? ` (name held by ${e.nameHeldBy})` : '');
      ctx.out(
        formatTable(
          ['NETWORK', 'IP', 'MAC', 'HOST', 'VTEP', 'STATUS', 'NAMES', 'ID'],
          r.map((e) => [
            e.network,
            [e.ip, e.ip6].filter(Boolean).join(',') || '-',
            e.mac,
            e.host,
            e.vtep,
            e.status,
            names(e) || '-',
            e.id,
          ]),
        ),
      );
    }
    return 0;
  },
};
