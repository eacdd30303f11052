/**
 * A helper process that must outlive the agent (wireguard-go, the DNS keeper) under systemd: the
 * agent's unit kills every process of its cgroup on stop and restart, so (when the agent runs as a
 * unit: systemd sets INVOCATION_ID) the command is run in a transient scope of its own
 * (`systemd-run --scope --unit=vxmesh-NAME`, which execs it: the PID stays the command's). Elsewhere the command is returned unchanged.
 */
import fs from 'node:fs';

export function ownScope(unitSuffix: string, [cmd, args]: [string, string[]]): [string, string[]] {
  if (process.env.INVOCATION_ID === undefined || !fs.existsSync('/usr/bin/systemd-run')) return [cmd, args];
  return ['/usr/bin/systemd-run', ['--scope', '--collect', '--quiet', `--unit=vxmesh-${unitSuffix}`, cmd, ...args]];
}
