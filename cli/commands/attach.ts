/** `vxmesh attach` and `vxmesh detach`: connect any network namespace to a network. */
import { onePerFamily } from '../family-flags.js';
import { apiRequest } from '../admin-client.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';
import type { LocalEndpoint } from '../../agent/agent.js';
import { formatPortMapping, parsePortMappings } from '../../core/port-mappings.js';
import { ValidationError } from '../../core/errors.js';

const attachUsage = `Usage: vxmesh attach NETWORK --netns NAME|PATH [--ifname eth0] [--ip IP] [--mac MAC]
                     [--publish HOSTPORT:PORT[/tcp|udp]]... [--name NAME] [--alias NAME]...

Creates a veth pair: one end in the namespace (as IFNAME, with the address, the network's MTU and a
default route via the gateway), the other on the network's bridge. Without --ip the address comes
from the cluster-wide IPAM; an explicit --ip is refused if any host uses it. Prints the endpoint.
Unless the network is internal, the default route leads out through this host (source NAT).
--publish makes HOSTPORT of this host reach PORT of the endpoint (until detach); a port already in
use on this host is refused.

Options:
  --netns NAME|PATH   the namespace (an "ip netns" name, or a path such as /proc/PID/ns/net)
  --ifname NAME       interface name inside the namespace (default eth0)
  --ip IP             address (default: allocated), once per family of the network's subnets
                      (--ip 198.18.40.11 --ip 2001:db8:40::11); a family left out is allocated
  --mac MAC           MAC address (default: 02:42 followed by the IPv4 address)
  --publish H:P[/tcp|udp]  publish host port H to the endpoint's port P (repeatable; default tcp)
  --name NAME         the endpoint's name (a DNS label), known to every host with the endpoint;
                      a name another live endpoint of the network holds stays with that one
  --alias NAME        another name (repeatable; may be shared by several endpoints)
${CLIENT_HELP}`;

const detachUsage = `Usage: vxmesh detach NETWORK --netns NAME|PATH [--ifname eth0]

Removes the endpoint of that namespace and interface from the network, here and in the cluster.

Options:
  --netns NAME|PATH   the namespace given to attach
  --ifname NAME       interface name (default eth0)
${CLIENT_HELP}`;

function render(ep: LocalEndpoint): string {
  const published = (ep.publish ?? []).map(formatPortMapping).join(',');
  const names = [ep.name, ...(ep.aliases ?? [])].filter(Boolean).join(',');
  const addresses = [
    ep.ip !== undefined ? `${ep.ip}/${ep.prefix ?? '?'}` : undefined,
    ep.ip6 !== undefined ? `${ep.ip6}/${ep.prefix6 ?? '?'}` : undefined,
  ]
    .filter(Boolean)
    .join(' ');
  return `${ep.id}  ${ep.network}  ${addresses}  ${ep.mac}  ${ep.netns} ${ep.ifname}${names ? `  names ${names}` : ''}${published ? `  publish ${published}` : ''}`;
}

export const attachCommand: Command = {
  name: 'attach',
  usage: attachUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      netns: { type: 'string' },
      ifname: { type: 'string' },
      ip: { type: 'string', multiple: true },
      mac: { type: 'string' },
      publish: { type: 'string', multiple: true },
      name: { type: 'string' },
      alias: { type: 'string', multiple: true },
    });
    if (positionals.length !== 1)
      throw new UsageError(positionals.length ? `unexpected argument "${positionals[1]}"` : 'NETWORK is required');
    if (!values.netns) throw new UsageError('--netns is required');
    const [ip4, ip6] = onePerFamily(values.ip, 'ip');
    let publish;
    try {
      publish =
        values.publish === undefined ? undefined : parsePortMappings(values.publish, 'publish').map(formatPortMapping);
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError(`--${e.message}`);
      throw e;
    }
    const ep = await apiRequest<LocalEndpoint>(socketOf(values), 'POST', '/v1/attach', {
      network: positionals[0],
      netns: values.netns,
      ifname: values.ifname,
      ip: ip4,
      ip6,
      mac: values.mac,
      publish,
      name: values.name,
      aliases: values.alias,
    });
    ctx.out(values.json ? JSON.stringify(ep, null, 2) : render(ep));
    return 0;
  },
};

export const detachCommand: Command = {
  name: 'detach',
  usage: detachUsage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {
      ...CLIENT_FLAGS,
      netns: { type: 'string' },
      ifname: { type: 'string' },
    });
    if (positionals.length !== 1)
      throw new UsageError(positionals.length ? `unexpected argument "${positionals[1]}"` : 'NETWORK is required');
    if (!values.netns) throw new UsageError('--netns is required');
    const ep = await apiRequest<LocalEndpoint>(socketOf(values), 'POST', '/v1/detach', {
      network: positionals[0],
      netns: values.netns,
      ifname: values.ifname,
    });
    ctx.out(values.json ? JSON.stringify(ep, null, 2) : `detached ${render(ep)}`);
    return 0;
  },
};
