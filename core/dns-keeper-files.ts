/**
 * Where the agent's DNS keeper lives on disk: its socket and PID file, in the agent's state
 * directory (daemon/dns-keeper-launch.ts starts it; `vxmesh reset` and test harnesses stop it by PID).
 */
import fs from 'node:fs';
import path from 'node:path';

export const keeperFiles = (stateDir: string) => ({
  socket: path.join(stateDir, 'dns-keeper.sock'),
  pidFile: path.join(stateDir, 'dns-keeper.pid'),
});

/** The PID of the keeper whose PID file is in the state directory, if it runs and is one. */
export function dnsKeeperPid(stateDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(keeperFiles(stateDir).pidFile, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('\0dns-keeper\0') ? pid : undefined;
  } catch {
    return undefined;
  }
}
