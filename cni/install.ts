/**
 * Installing the CNI plugin where runtimes look for it: an executable `vxmesh` in a plugin directory
 * (`/usr/lib/cni` for Debian's Podman, `/opt/cni/bin` for containerd) that runs the launcher with this
 * Node.js. A shell script naming both by absolute path: a runtime's PATH is not ours to rely on.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Plugin directories used by default: those that exist, else containerd's. */
export const PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
/** Marks a file as ours: uninstall and reset remove only files that carry it. */
const MARKER = '# vxmesh CNI plugin launcher';

/** The script; `socket`: the agent's admin socket when it is not the default (VXMESH_SOCKET set by the runtime wins). */
export function launcherScript(nodePath: string, launcherPath: string, socket?: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const env = socket ? `: "\${VXMESH_SOCKET:=${socket.replace(/["$`\\}]/g, '\\$&')}}"\nexport VXMESH_SOCKET\n` : '';
  return `#!/bin/sh\n${MARKER} (installed by \`vxmesh cni install\`)\n${env}exec ${q(nodePath)} ${q(launcherPath)} "$@"\n`;
}

export function defaultPluginDirs(): string[] {
  const existing = PLUGIN_DIRS.filter((d) => fs.existsSync(d));
  return existing.length > 0 ? existing : ['/opt/cni/bin'];
}

/** Writes `<dir>/vxmesh` (mode 0755, atomically); refuses to replace a file that is not ours. */
export function installLauncher(dir: string, nodePath: string, launcherPath: string, socket?: string): string {
  const file = path.join(dir, 'vxmesh');
  if (fs.existsSync(file) && !isOurs(file))
    throw new Error(`${file} exists and is not a vxmesh launcher: not replaced (remove it first)`);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, launcherScript(nodePath, launcherPath, socket), { mode: 0o755 });
  fs.renameSync(tmp, file);
  return file;
}

export function isOurs(file: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8').slice(0, 200).includes(MARKER);
  } catch {
    return false;
  }
}

/** Removes `<dir>/vxmesh` if it is ours; returns the files removed. */
export function uninstallLaunchers(dirs: string[]): string[] {
  const removed: string[] = [];
  for (const dir of dirs) {
    const file = path.join(dir, 'vxmesh');
    if (isOurs(file)) {
      fs.rmSync(file);
      removed.push(file);
    }
  }
  return removed;
}
