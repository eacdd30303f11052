/** `vxmesh network create|ls|inspect|rm`. */
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';
import type { NetworkView } from '../../agent/agent.js';

const usage = `Usage: vxmesh network create NAME --subnet CIDR [--vni N] [--gateway IP] [--mtu N] [--internal] [--encrypted]
                             [--ip-range CIDR] [--aux-address IP]...
       vxmesh network ls
       vxmesh network inspect NAME
       vxmesh network rm NAME

Networks are cluster-wide: created on any host, known to every agent. The overlay namespace of a
network is built on a host when the first endpoint there is attached. Without --vni a VNI is derived
from the name; without --gateway the first address of the subnet is the gateway.

Options:
  --subnet CIDR       the network's IPv4 subnet (inside 198.18.0.0/15 in examples)
  --vni N             VXLAN network identifier, 1..16777215
  --gateway IP        gateway address (anycast on every host's br0)
  --mtu N             overlay MTU (default and maximum: underlay MTU - 50)
  --internal          no way out: no egress through the hosts, no published ports
  --encrypted         every frame between hosts inside WireGuard; only agents that carry encrypted
                      networks attach to it (see docs/operations.md, "Encrypted networks")
  --ip-range CIDR     allocate addresses only inside this range of the subnet (cluster-wide)
  --aux-address IP    never hand this address out (repeatable)
${CLIENT_HELP}`;

export const networkCommand: Command = {
  name: 'network',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      subnet: { type: 'string' },
      vni: { type: 'string' },
      gateway: { type: 'string' },
      mtu: { type: 'string' },
      internal: { type: 'boolean' },
      encrypted: { type: 'boolean' },
      'ip-range': { type: 'string' },
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
        if (!values.subnet) throw new UsageError('network create: --subnet is required');
        const r = await apiRequest<NetworkView>(sock, 'POST', '/v1/networks', {
          name: n,
          subnet: values.subnet,
          vni: num(values.vni, 'vni'),
          gateway: values.gateway,
          mtu: num(values.mtu, 'mtu'),
          internal: values.internal === true ? true : undefined,
          ipRange: values['ip-range'],
          reserved: values['aux-address'],
          encrypted: values.encrypted === true ? true : undefined,
        });
        ctx.out(
          values.json
            ? JSON.stringify(r, null, 2)
            : `${r.name}  vni ${r.vni}  subnet ${r.subnet}  gateway ${r.gateway ?? '-'}${r.internal ? '  internal' : ''}${r.encrypted ? '  encrypted' : ''}`,
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
                n.subnet,
                n.gateway ?? '-',
                n.mtu ? String(n.mtu) : 'auto',
                [n.internal ? 'internal' : '', n.encrypted ? 'encrypted' : ''].filter(Boolean).join(',') || '-',
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
      case 'rm': {
        const n = needName();
        await apiRequest(sock, 'DELETE', `/v1/networks/${encodeURIComponent(n)}`);
        ctx.out(values.json ? JSON.stringify({ removed: n }) : `removed ${n}`);
        return 0;
      }
      default:
        throw new UsageError(
          sub ? `unknown network subcommand "${sub}"` : 'network: a subcommand is required (create, ls, inspect, rm)',
        );
    }
  },
};
