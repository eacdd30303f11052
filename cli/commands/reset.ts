/** `vxmesh reset`: removes what the (stopped) agent of this host made. */
import path from 'node:path';
import { PLUGIN_DIRS } from '../../cni/install.js';
import { resetHost } from '../../daemon/reset.js';
import { UsageError, type Command } from '../support.js';
import { parseAgentArgs } from './agent.js';

const usage = `Usage: vxmesh reset [--dry-run] [--json] [--cni-dir DIR]... [AGENT OPTIONS]

Removes what the agent of this host made, with the agent stopped: its overlay namespaces (with the
containers' veth pairs and the gateway links), the VXMESH-* chains of the host's iptables, the WireGuard
interface, its wireguard-go, route and ip6tables rule, the resolv.conf files written for named
namespaces, the CNI plugin launcher ("vxmesh cni install"), its sockets and the files of its state
directory. Prints what it removed.

It finds them with the agent's own settings: give it the same --config FILE (or flags, or VXMESH_*
environment) as the agent, at least --state-dir and --netns-prefix when they are not the defaults.
Only objects with the agent's marks are touched (a namespace <prefix><vni> only when it holds its
vxlan<vni> device). Left in place: the cluster key, the config file, IPv4 forwarding, Docker's networks
(remove them with "docker network rm" first), and the cluster's records of this host (they go when the
other members find it dead).

Options:
  --dry-run          list what would be removed, remove nothing
  --json             {"dryRun": BOOL, "removed": [...], "errors": [...]}
  --cni-dir DIR      where "vxmesh cni install --dir" put the launcher (repeatable; default
                     ${PLUGIN_DIRS.join(' and ')}); only a file with the launcher's mark is removed
  --config FILE      the agent's config file; or the agent's flags, of which reset reads:
  --state-dir DIR, --netns-prefix STR, --socket PATH, --encrypted-port N, --plugin-dir DIR
                     (the other agent flags are accepted and ignored; "vxmesh agent --help")

Exit status: 0 when everything found was removed, 1 when something could not be (listed), 2 on bad
options. Refused while the agent answers on its admin socket.`;

export const resetCommand: Command = {
  name: 'reset',
  usage,
  async run(ctx) {
    const json = ctx.argv.includes('--json');
    const dryRun = ctx.argv.includes('--dry-run');
    const cniDirs: string[] = [];
    const rest: string[] = [];
    for (let i = 0; i < ctx.argv.length; i++) {
      const a = ctx.argv[i] ?? '';
      if (a === '--json' || a === '--dry-run') continue;
      if (a === '--cni-dir' || a.startsWith('--cni-dir=')) {
        const dir = a === '--cni-dir' ? ctx.argv[++i] : a.slice('--cni-dir='.length);
        if (!dir || dir.startsWith('--')) throw new UsageError('--cni-dir needs a directory');
        if (!path.isAbsolute(dir)) throw new UsageError(`--cni-dir: "${dir}" is not an absolute path`);
        cniDirs.push(dir);
      } else rest.push(a);
    }
    const cfg = parseAgentArgs(rest, process.env, { requireKey: false });
    if (cfg === 'help') throw new UsageError('--help');
    const report = await resetHost(cfg, { dryRun, ...(cniDirs.length ? { cniDirs } : {}) });
    if (json) ctx.out(JSON.stringify({ dryRun, ...report }));
    else {
      const verb = dryRun ? 'would remove' : 'removed';
      for (const r of report.removed) ctx.out(`${verb} ${r}`);
      for (const e of report.errors) ctx.err(`could not remove ${e}`);
      if (report.removed.length === 0 && report.errors.length === 0)
        ctx.out('nothing of vxmesh found on this host (with these settings)');
    }
    return report.errors.length ? 1 : 0;
  },
};
