/**
 * The wireguard-go processes simulated hosts' agents started: they outlive their agent (and their
 * namespace) on purpose, so a testbed stops them itself, by the PIDs the agents left in their state
 * directories (`vxwg*.pid`), each checked to still be a wireguard-go; a wireguard-go killed outright
 * leaves its control socket behind, removed after.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface WireguardGoProcess {
  pid: number;
  ifname: string;
}

/** The directories directly under `dir` (each host's state directory, in a cluster's). */
export function subdirs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((d) => path.join(dir, d))
    .filter((d) => fs.statSync(d).isDirectory());
}

/** The live wireguard-go processes whose PID files are in these state directories. */
export function wireguardGoOf(stateDirs: string[]): WireguardGoProcess[] {
  const out: WireguardGoProcess[] = [];
  for (const dir of stateDirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir))
      if (/^vxwg[a-z0-9]+\.pid$/.test(f)) {
        const pid = Number(fs.readFileSync(path.join(dir, f), 'utf8'));
        // Only if that PID is still a wireguard-go (never a process that reused the number).
        if (Number.isInteger(pid) && pid > 1 && cmdline(pid).startsWith('wireguard-go'))
          out.push({ pid, ifname: f.slice(0, -'.pid'.length) });
      }
  }
  return out;
}

/** Removes the control sockets of these (stopped) processes. */
export function removeControlSockets(list: WireguardGoProcess[]): void {
  for (const { ifname } of list) fs.rmSync(`/var/run/wireguard/${ifname}.sock`, { force: true });
}

const cmdline = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
