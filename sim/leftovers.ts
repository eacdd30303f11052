/**
 * What a test run leaves behind and how it is removed: a registry file per run (its namespace prefix,
 * owner PID and the PIDs it started), and the removal of runs whose owner is dead (testbed.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { processesInMountNamespace } from './host-processes.js';

export const BASE_PREFIX = 'vxt';
export const REGISTRY_DIR = path.join(os.tmpdir(), 'vxmesh-testbed');

export interface Registry {
  prefix: string;
  ownerPid: number;
  pids: number[];
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await $`ip netns list`.nothrow();
  return out.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

export async function killAndWait(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

export async function deleteNamespacesWithPrefix(prefix: string): Promise<void> {
  const names = (await listNamespaces()).filter((n) => n.startsWith(prefix));
  // Containers and overlays first, the switch last: order does not matter to the kernel, but a
  // namespace held open by a live process lingers, so processes must be gone before this.
  for (const n of names) await $`ip netns del ${n}`.nothrow();
  // The resolver files `vxmesh attach` writes for named namespaces (/etc/netns/NAME/resolv.conf).
  if (fs.existsSync('/etc/netns'))
    for (const d of fs.readdirSync('/etc/netns'))
      if (d.startsWith(prefix)) fs.rmSync(path.join('/etc/netns', d), { recursive: true, force: true });
}

/**
 * Simulated Docker hosts pin a mount namespace per host under /run/<prefix>mnt: the processes still in
 * one (containerd shims, containers) are killed by PID, then the namespaces are unmounted.
 */
async function releasePinnedMountNamespaces(prefix: string): Promise<void> {
  const dir = path.join('/run', `${prefix}mnt`);
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const file = path.join(dir, f);
    await killAndWait(processesInMountNamespace(file));
    await $`umount ${file}`.nothrow();
  }
  await $`umount ${dir}`.nothrow();
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Removes the namespaces and processes of earlier runs whose owner process is gone. */
export async function cleanupLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  const kept: string[] = [];
  fs.mkdirSync(REGISTRY_DIR, { recursive: true });
  for (const f of fs.readdirSync(REGISTRY_DIR)) {
    const file = path.join(REGISTRY_DIR, f);
    let reg: Registry;
    try {
      reg = JSON.parse(fs.readFileSync(file, 'utf8')) as Registry;
    } catch {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (pidAlive(reg.ownerPid)) {
      kept.push(reg.prefix);
      continue;
    }
    await killAndWait(reg.pids);
    await releasePinnedMountNamespaces(reg.prefix);
    await deleteNamespacesWithPrefix(reg.prefix);
    fs.rmSync(file, { force: true });
    removed.push(reg.prefix);
  }
  // Namespaces of a run that died before it wrote its registry: the owner PID is in the name.
  for (const n of await listNamespaces()) {
    const m = new RegExp(`^${BASE_PREFIX}([0-9a-z]+)-`).exec(n);
    if (!m || kept.some((k) => n.startsWith(k))) continue;
    const owner = parseInt(m[1] as string, 36);
    if (!pidAlive(owner)) {
      await $`ip netns del ${n}`.nothrow();
      removed.push(n);
    }
  }
  return removed;
}
