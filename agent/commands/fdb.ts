/** `vxmesh fdb`: the VXLAN devices' fdb and neighbour tables as the kernel holds them. */
import { readOverlayTables, type VxlanTables } from '../../dataplane/tables.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../cli-support.js';

const usage = `Usage: vxmesh fdb [--netns NAME|PATH | --all] [--netns-prefix STR] [--json]

Prints, for each overlay namespace, the VXLAN device's forwarding database (MAC, VTEP, flags,
state) and its neighbour table (IP, MAC, state), read directly from the kernel. Needs no agent.

Options:
  --netns NAME|PATH   only this namespace
  --all               every named namespace that holds a VXLAN device
  --netns-prefix STR  overlay namespaces with this prefix (default "vx-")
  --json              machine-readable output
  -h, --help          this text`;

function render(tables: VxlanTables[]): string {
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

export const fdbCommand: Command = {
  name: 'fdb',
  summary: 'show the kernel fdb and neighbour tables of the overlays',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      netns: { type: 'string' },
      all: { type: 'boolean' },
      'netns-prefix': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      ctx.out(usage);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.netns !== undefined && values.all) throw new UsageError('--netns and --all exclude each other');
    const tables = await readOverlayTables({ netns: values.netns, all: values.all, prefix: values['netns-prefix'] });
    if (values.json) {
      ctx.out(JSON.stringify(tables.map(({ fdb, neighbours, ...rest }) => ({
        ...rest,
        fdb: fdb.map((e) => ({ mac: e.mac, vtep: e.dst ?? null, flags: e.flags, state: e.stateName })),
        neighbours: neighbours.map((n) => ({ ip: n.ip, mac: n.mac ?? null, state: n.stateName })),
      })), null, 2));
    } else {
      ctx.out(render(tables));
    }
    return 0;
  },
};
