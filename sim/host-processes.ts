/**
 * The processes "on" a simulated host, found by PID (never by name): every process in the host's
 * mount namespace (dockerd, containerd, the shims, the agent) and all their descendants (the
 * containers, which have mount namespaces of their own).
 */
import fs from 'node:fs';

function nsOf(pid: number, kind: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live process in the mount namespace pinned at `mntFile`, and their descendants. */
export function processesInMountNamespace(mntFile: string): number[] {
  let ino: number;
  try {
    ino = fs.statSync(mntFile).ino;
  } catch {
    return [];
  }
  const target = `mnt:[${ino}]`;
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const found = new Set(all.filter((p) => p !== process.pid && nsOf(p, 'mnt') === target));
  const parents = new Map(all.map((p) => [p, parentOf(p)]));
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of parents) {
      if (pp !== undefined && found.has(pp) && !found.has(p)) {
        found.add(p);
        grew = true;
      }
    }
  }
  return [...found];
}
