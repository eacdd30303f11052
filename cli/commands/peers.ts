/** `vxmesh peers` and `vxmesh endpoints`. */
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';

interface PeerRow {
  name: string;
  peerId: string;
  vtep: string;
  state: string;
  incarnation: number;
  lastAck: string | null;
  self: boolean;
  dataplaneHeld: boolean;
}

const peersUsage = `Usage: vxmesh peers

Cluster members as this agent sees them: state (alive, suspect, dead, left), VTEP, incarnation and
the last successful probe. "held" marks a dead or departed agent whose host still answers on its
VTEP: its containers stay reachable.

Options:
${CLIENT_HELP}`;

export const peersCommand: Command = {
  name: 'peers',
  summary: 'list cluster members',
  usage: peersUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, CLIENT_FLAGS);
    if (values.help) {
      ctx.out(peersUsage);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const r = await apiRequest<PeerRow[]>(socketOf(values), 'GET', '/v1/peers');
    if (values.json) ctx.out(JSON.stringify(r, null, 2));
    else
      ctx.out(
        formatTable(
          ['NAME', 'STATE', 'VTEP', 'LAST ACK', 'INCARNATION', 'PEER ID'],
          r.sort((a, b) => a.name.localeCompare(b.name)).map((p) => [p.name + (p.self ? ' (self)' : ''), p.state + (p.dataplaneHeld ? ' (held)' : ''), p.vtep, p.self ? '-' : p.lastAck ?? 'never', String(p.incarnation), p.peerId]),
        ),
      );
    return 0;
  },
};

const endpointsUsage = `Usage: vxmesh endpoints [NETWORK]

Every endpoint of the cluster (or of one network): IP, MAC, host, VTEP and status (local, remote,
held: its agent is gone but its host answers, suspended: its host is gone).

Options:
${CLIENT_HELP}`;

export const endpointsCommand: Command = {
  name: 'endpoints',
  summary: 'list endpoints in the cluster',
  usage: endpointsUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, CLIENT_FLAGS);
    if (values.help) {
      ctx.out(endpointsUsage);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const q = positionals[0] ? `?network=${encodeURIComponent(positionals[0])}` : '';
    const r = await apiRequest<Array<Record<string, string>>>(socketOf(values), 'GET', `/v1/endpoints${q}`);
    if (values.json) ctx.out(JSON.stringify(r, null, 2));
    else ctx.out(formatTable(['NETWORK', 'IP', 'MAC', 'HOST', 'VTEP', 'STATUS', 'ID'], r.map((e) => [e.network ?? '', e.ip ?? '', e.mac ?? '', e.host ?? '', e.vtep ?? '', e.status ?? '', e.id ?? ''])));
    return 0;
  },
};
