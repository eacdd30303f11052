/** `vxmesh policy allow|ls|rm`: rules letting traffic into a network from a connected one or from outside. */
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';
import { portsText } from '../../core/policy-records.js';
import type { RuleRow } from '../../agent/policy.js';

const usage = `Usage: vxmesh policy allow NETWORK --from NETWORK|CIDR [--to-port PROTO/PORT[-LAST]]...
       vxmesh policy ls [NETWORK]
       vxmesh policy rm ID

Between connected networks ("vxmesh network connect") everything is denied until a rule allows it;
within a network everything is allowed. A rule lets traffic into NETWORK from a connected network
(--from NAME) or, through published ports, from outside sources (--from CIDR: once a network has such
a rule, outside sources no rule names are dropped). Stateful: replies of an allowed connection pass.
Enforced on the host where the traffic arrives, in the network's overlay namespace (nftables). Rules
are cluster-wide: any host's agent writes them; every host applies them within a second.
See docs/operations.md, "Routing and policy between networks".

Options:
  --from NETWORK|CIDR        the source: a connected network's name, or an address prefix (/8../32, /128)
  --to-port PROTO/PORT[-LAST] tcp or udp, a port or a range (repeatable); none: every port and protocol
${CLIENT_HELP}`;

export const policyCommand: Command = {
  name: 'policy',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      from: { type: 'string' },
      'to-port': { type: 'string', multiple: true },
    });
    const [sub, arg, extra] = positionals;
    const sock = socketOf(values);
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    switch (sub) {
      case 'allow': {
        if (!arg) throw new UsageError('policy allow: NETWORK is required');
        if (!values.from) throw new UsageError('policy allow: --from NETWORK|CIDR is required');
        const source = values.from.includes('/') ? { fromCidr: values.from } : { from: values.from };
        const ports = values['to-port'];
        const r = await apiRequest<RuleRow>(sock, 'POST', '/v1/policy', {
          network: arg,
          ...source,
          ...(ports?.length ? { ports } : {}),
        });
        ctx.out(
          values.json ? JSON.stringify(r) : `${r.id}  ${r.network} from ${r.from ?? r.fromCidr}  ${portsText(r.ports)}`,
        );
        return 0;
      }
      case 'ls': {
        const q = arg ? `?network=${encodeURIComponent(arg)}` : '';
        const rows = await apiRequest<RuleRow[]>(sock, 'GET', `/v1/policy${q}`);
        if (values.json) ctx.out(JSON.stringify(rows, null, 2));
        else
          ctx.out(
            formatTable(
              ['ID', 'NETWORK', 'FROM', 'PORTS'],
              rows.map((r) => [r.id, r.network, r.from ?? r.fromCidr ?? '-', portsText(r.ports)]),
            ),
          );
        return 0;
      }
      case 'rm': {
        if (!arg) throw new UsageError('policy rm: ID is required (vxmesh policy ls)');
        await apiRequest(sock, 'DELETE', `/v1/policy/${encodeURIComponent(arg)}`);
        ctx.out(values.json ? JSON.stringify({ removed: arg }) : `removed ${arg}`);
        return 0;
      }
      default:
        throw new UsageError(
          sub ? `unknown policy subcommand "${sub}"` : 'policy: a subcommand is required (allow, ls, rm)',
        );
    }
  },
};
