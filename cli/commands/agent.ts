/** `vxmesh agent`: the daemon. */
import { loadConfig, SETTINGS, type AgentConfig } from '../../daemon/config.js';
import { runDaemon } from '../../daemon/run.js';
import { expandBooleanFlags, parseFlags, UsageError, type Command } from '../support.js';

const usage = `Usage: vxmesh agent [--config FILE] [--name NAME] [--vtep IP] [--underlay-dev IFNAME]
                    [--listen HOST:PORT] [--join HOST:PORT[,HOST:PORT...]]
                    (--cluster-key FILE | --insecure) [--state-dir DIR] [--socket PATH]
                    [--netns-prefix STR] [--vxlan-port N]
                    [--metrics HOST:PORT] [--log-level LEVEL]

Runs the vxmesh agent of this host. Each flag can also come from the environment (VXMESH_NAME,
VXMESH_VTEP, ..., the flag in upper case with "-" as "_") or from a JSON config file (keys as the flag
names or camelCase); flags win over the environment, which wins over the file.

Options:
  --config FILE            JSON config file
  --name NAME              member name, unique in the cluster (default: the host name)
  --vtep IP                this host's VTEP address (default: address of the default-route interface)
  --underlay-dev IFNAME    underlay device for VXLAN (default: the device holding the VTEP address)
  --listen HOST:PORT       gossip listen address (default 0.0.0.0:7946)
  --join HOST:PORT,...     members to join through
  --cluster-key FILE       the cluster's key (required; make one with "vxmesh keygen"; mode 0600):
                           only hosts with the same key connect
  --cluster-key-accept FILE  during a key change: also accept peers that send with this key
                           (docs/operations.md, "Changing the cluster key")
  --insecure               run without a key on purpose: any host reaching the gossip port joins
  --state-dir DIR          state directory (default /var/lib/vxmesh)
  --socket PATH            admin API socket (default /run/vxmesh/vxmesh.sock)
  --netns-prefix STR       overlay namespace prefix (default vx-)
  --vxlan-port N           VXLAN UDP port (default 4789)
  --[no-]wireguard         carry encrypted networks through this host's WireGuard interface (default on;
                           needs wireguard-tools, and wireguard-go where the kernel has no WireGuard)
  --wireguard-port N       WireGuard's UDP port, the same on every host (default 51820)
  --encrypted-port N       encrypted networks' VXLAN port, inside WireGuard only (default 4790)
  --metrics HOST:PORT      serve Prometheus metrics on http://HOST:PORT/metrics
  --log-level LEVEL        trace|debug|info|warn|error|fatal|silent (default info)
  --reconcile-interval-ms N, --ipam-settle-ms N, --dead-agent-hold-ms N   tuning (see docs/operations.md)
  --[no-]kernel-events     repair an fdb/neighbour entry as soon as the kernel reports it changed, not
                           only at the periodic reconcile (default on)
  --plugin-dir DIR         Docker plugin socket directory (default /run/docker/plugins)
  --[no-]docker-plugin     serve the Docker network + IPAM driver (default on; see docs/docker.md)
  --[no-]docker-sync       create the Docker network on the local engine for every vxmesh network
                           (default off; boolean flags also take =true or =false)
  --[no-]docker-names      name each container's endpoint after the container and its network aliases
                           (for the networks' DNS servers; needs the Engine API at --docker-host; default off)
  --docker-host PATH       the local engine's API socket for --docker-sync and --docker-names (default /run/docker.sock)
  --[no-]dns               a DNS server per network on its gateway address: the endpoints' names
                           (NAME, NAME.NETWORK, NAME.NETWORK.vxmesh), other names forwarded (default on)
  --dns-upstream IP[:PORT] where other names go (IPv6: [IPv6]:PORT; default: the first nameserver of
                           /etc/resolv.conf, IPv4 or IPv6)
  --dns-client-rate N      questions per second one container may send to its DNS server, burst 2N;
                           beyond, the kernel drops them (default 500)
  --[no-]egress            egress and published ports for attached endpoints through this host:
                           a gateway link per network, source NAT, rules in iptables chains VXMESH-*
                           (default on; needs the iptables package; see docs/operations.md)
  --store etcd://HOST:PORT[,HOST:PORT...]
                           optional etcd store: network definitions and addresses by compare-and-swap
                           (every agent of a cluster uses it, or none; see docs/operations.md)
  --store-prefix PREFIX    key prefix in the store (default /vxmesh/)
  --store etcds://...      the same over TLS, with
    --store-ca FILE        the CA of the etcd servers' certificates (default: the system's CAs)
    --store-cert FILE      a client certificate, and
    --store-key FILE       its key (owner-only file)
  --store-user NAME        etcd authentication: the user, and
  --store-password-file FILE
                           a file holding its password (owner-only)
  -h, --help               this text

Stops on SIGTERM/SIGINT: leaves the cluster, closes its sockets, and leaves all kernel state in place.`;

/** The agent's command line (with the environment and the config file) → its configuration. */
export function parseAgentArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
  opts: { requireKey?: boolean } = {},
): AgentConfig | 'help' {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  const booleans = SETTINGS.filter((s) => s.boolean).map((s) => s.flag);
  const { values, positionals } = parseFlags(expandBooleanFlags(argv, booleans), options, true);
  if (values.help) return 'help';
  if (positionals.length) {
    const word = positionals[0] as string;
    const flag = /^--([A-Za-z0-9-]+)$/.exec(argv[argv.indexOf(word) - 1] ?? '')?.[1];
    throw new UsageError(
      flag !== undefined && booleans.includes(flag)
        ? `--${flag}: "${word}" is not a value it takes: --${flag}, --no-${flag}, or --${flag}=true|false`
        : `unexpected argument "${word}"`,
    );
  }
  return loadConfig({ flags: values as Record<string, string | undefined>, env, requireKey: opts.requireKey });
}

export const agentCommand: Command = {
  name: 'agent',
  usage,
  async run(ctx) {
    const cfg = parseAgentArgs(ctx.argv, process.env);
    if (cfg === 'help') {
      ctx.out(usage);
      return 0;
    }
    await runDaemon(cfg);
    return 0;
  },
};
