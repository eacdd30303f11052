/** `vxmesh network create|ls|inspect|rm|connect|disconnect`. */
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { byFamily, onePerFamily } from '../family-flags.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';
import type { NetworkView } from '../../agent/agent.js';

const usage = `Usage: vxmesh network create NAME --subnet CIDR [--subnet CIDR6] [--vni N] [--gateway IP]... [--mtu N]
                             [--internal] [--encrypted] [--isolated] [--ip-range CIDR]... [--aux-address IP]...
       vxmesh network ls
       vxmesh network inspect NAME
       vxmesh network rm NAME
       vxmesh network connect NAME OTHER
       vxmesh network disconnect NAME OTHER

Networks are cluster-wide: created on any host, known to every agent. The overlay namespace of a
network is built on a host when the first endpoint there is attached. Without --vni a VNI is derived
from the name; without --gateway the first address of the subnet is the gateway. An IPv4 subnet, an
IPv6 subnet, or one of each (dual-stack); --gateway, --ip-range and --aux-address apply to the subnet
of their address's family.

connect: containers of each network reach the other's by address (routed on the host where the
traffic starts) — once a rule lets them in: between connected networks everything is denied until
"vxmesh policy allow" allows it. Refused when the subnets overlap (also with a network already
connected to the other), when one is internal or encrypted and the other is not, or while agents of
an older release are live. disconnect removes the routes and makes the rules between them inactive.

Options:
  --subnet CIDR       the network's subnet, once per family: IPv4 (inside 198.18.0.0/15 in examples)
                      and/or IPv6 (e.g. 2001:db8:40::/64; /8../126)
  --vni N             VXLAN network identifier, 1..16777215
  --gateway IP        gateway address (anycast on every host's br0), once per family
  --mtu N             overlay MTU (default and maximum: underlay MTU - 50)
  --internal          no way out: no egress through the hosts, no published ports
  --encrypted         every frame between hosts inside WireGuard; only agents that carry encrypted
                      networks attach to it (see docs/operations.md, "Encrypted networks")
  --isolated          the network's endpoints do not reach each other (Docker's icc=false); each
                      still reaches its gateway, DNS and connected networks under their rules
  --ip-range CIDR     allocate addresses only inside this range of the subnet (cluster-wide), once per family
  --aux-address IP    never hand this address out (repeatable)
${CLIENT_HELP}`;

export const networkCommand: Command = {
  name: 'network',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      subnet: { type: 'string', multiple: true },
      vni: { type: 'string' },
      gateway: { type: 'string', multiple: true },
      mtu: { type: 'string' },
      internal: { type: 'boolean' },
      encrypted: { type: 'boolean' },
      isolated: { type: 'boolean' },
      'ip-range': { type: 'string', multiple: true },
      'aux-address': { type: 'string', multiple: true },
    });
    const [sub, name, extra] = positionals;
    const sock = socketOf(values);
    const needName = () => {
      if (!name) throw new UsageError(`network ${sub}: NAME is required`);
      if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
      return name;
    };
    const num = (v: string | undefined, flag: string) => {
      if (v === undefined) return undefined;
      if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${flag} must be a number, got "${v}"`);
      return Number(v);
    };
    switch (sub) {
      case 'create': {
        const n = needName();
        if (!values.subnet?.length) throw new UsageError('network create: --subnet is required');
        const [subnet, subnet6] = onePerFamily(values.subnet, 'subnet');
        const [gateway, gateway6] = onePerFamily(values.gateway, 'gateway');
        const [ipRange, ipRange6] = onePerFamily(values['ip-range'], 'ip-range');
        const [reserved, reserved6] = byFamily(values['aux-address']);
        const r = await apiRequest<NetworkView>(sock, 'POST', '/v1/networks', {
          name: n,
          subnet,
          vni: num(values.vni, 'vni'),
          gateway,
          mtu: num(values.mtu, 'mtu'),
          internal: values.internal === true ? true : undefined,
          ipRange,
          reserved,
          encrypted: values.encrypted === true ? true : undefined,
          isolated: values.isolated === true ? true : undefined,
          subnet6,
          gateway6,
          ipRange6,
          reserved6,
        });
        const v6 = r.subnet6 ? `  subnet ${r.subnet6}  gateway ${r.gateway6 ?? '-'}` : '';
        const v4 = r.subnet ? `  subnet ${r.subnet}  gateway ${r.gateway ?? '-'}` : '';
        ctx.out(
          values.json
            ? JSON.stringify(r, null, 2)
            : `${r.name}  vni ${r.vni}${v4}${v6}${r.internal ? '  internal' : ''}${r.encrypted ? '  encrypted' : ''}`,
        );
        return 0;
      }
      case 'ls': {
        if (name) throw new UsageError(`unexpected argument "${name}"`);
        const r = await apiRequest<NetworkView[]>(sock, 'GET', '/v1/networks');
        if (values.json) ctx.out(JSON.stringify(r, null, 2));
        else
          ctx.out(
            formatTable(
              ['NAME', 'VNI', 'SUBNET', 'GATEWAY', 'MTU', 'MODE', 'ENDPOINTS', 'LOCAL', 'STATUS'],
              r.map((n) => [
                n.name,
                String(n.vni),
                [n.subnet, n.subnet6].filter(Boolean).join(',') || '-',
                [n.gateway, n.gateway6].filter(Boolean).join(',') || '-',
                n.mtu ? String(n.mtu) : 'auto',
                [n.internal ? 'internal' : '', n.encrypted ? 'encrypted' : '', n.isolated ? 'isolated' : '']
                  .filter(Boolean)
                  .join(',') || '-',
                String(n.endpoints),
                String(n.localEndpoints),
                n.usable ? (n.conflicts.length ? 'conflict' : 'ok') : 'unusable',
              ]),
            ),
          );
        return 0;
      }
      case 'inspect': {
        const r = await apiRequest<Record<string, unknown>>(
          sock,
          'GET',
          `/v1/networks/${encodeURIComponent(needName())}`,
        );
        ctx.out(JSON.stringify(r, null, 2));
        return 0;
      }
      case 'connect':
      case 'disconnect': {
        const other = positionals[2];
        if (!name || !other) throw new UsageError(`network ${sub}: NAME and OTHER are required`);
        if (positionals[3] !== undefined) throw new UsageError(`unexpected argument "${positionals[3]}"`);
        const r = await apiRequest<unknown>(sock, 'POST', `/v1/networks/${encodeURIComponent(name)}/${sub}`, {
          with: other,
        });
        ctx.out(values.json ? JSON.stringify(r) : `${sub}ed ${name} ${sub === 'connect' ? 'and' : 'from'} ${other}`);
        return 0;
      }
      case 'rm': {
        const n = needName();
        await apiRequest(sock, 'DELETE', `/v1/networks/${encodeURIComponent(n)}`);
        ctx.out(values.json ? JSON.stringify({ removed: n }) : `removed ${n}`);
        return 0;
      }
      default:
        throw new UsageError(
          sub
            ? `unknown network subcommand "${sub}"`
            : 'network: a subcommand is required (create, ls, inspect, rm, connect, disconnect)',
        );
    }
  },
};
