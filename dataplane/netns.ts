/**
 * Network namespaces: named ones compatible with `ip netns` (a bind mount of the namespace file under
 * /run/netns), and running synchronous code with the calling thread switched into a namespace.
 *
 * Node runs JavaScript on one thread. `setns(2)` changes only the calling thread, so a synchronous
 * switch-in / act / switch-back sequence affects nothing else: libuv's worker threads keep their own
 * namespace. We call libc through koffi (a prebuilt FFI module), so no compiler is needed at install.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errno, libc, sysFail } from '../core/libc.js';
import { NotFoundError, VxmeshError } from '../core/errors.js';
import { parseNetnsName } from '../core/addresses.js';
import { CLONE_NEWNET, inNetnsFd, setnsFn } from '../core/netns-switch.js';

export { inNetnsFd } from '../core/netns-switch.js';

export const NETNS_RUN_DIR = '/run/netns';
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;
const EINVAL = 22;

const unshareFn = libc.func('int unshare(int flags)');
const mountFn = libc.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)',
);
const umount2Fn = libc.func('int umount2(const char *target, int flags)');

/** Path of a namespace given by name (`ip netns` style) or by path (anything with a slash). */
export function netnsPath(nameOrPath: string): string {
  if (nameOrPath.includes('/')) return nameOrPath;
  return path.join(NETNS_RUN_DIR, parseNetnsName(nameOrPath));
}

export function netnsExists(nameOrPath: string): boolean {
  try {
    const fd = fs.openSync(netnsPath(nameOrPath), 'r');
    try {
      return isNsfsFd(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** nsfs has one superblock: a namespace file has the same st_dev as our own /proc/self/ns/net. */
let nsfsDev: number | undefined;
function isNsfsFd(fd: number): boolean {
  nsfsDev ??= fs.statSync('/proc/self/ns/net').dev;
  return fs.fstatSync(fd).dev === nsfsDev;
}

/** Opens a namespace for setns/IFLA_NET_NS_FD; throws NotFoundError naming `field`. */
export function openNetns(nameOrPath: string, field = 'netns'): number {
  const p = netnsPath(nameOrPath);
  let fd: number;
  try {
    fd = fs.openSync(p, 'r');
  } catch {
    throw new NotFoundError(field, `network namespace ${nameOrPath} does not exist`);
  }
  if (!isNsfsFd(fd)) {
    fs.closeSync(fd);
    throw new NotFoundError(field, `${p} is not a network namespace`);
  }
  return fd;
}

export function inNetns<T>(nameOrPath: string, fn: () => T): T {
  const fd = openNetns(nameOrPath);
  try {
    return inNetnsFd(fd, fn);
  } finally {
    fs.closeSync(fd);
  }
}

function ensureSharedRunDir(): void {
  fs.mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  // Same as iproute2: make /run/netns a shared mount so namespaces created later are visible in
  // mount namespaces that were cloned from this one (e.g. `ip netns exec`).
  if (mountFn('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC, null) === 0) return;
  if (errno() !== EINVAL) sysFail('mount', `--make-rshared ${NETNS_RUN_DIR}`);
  if (mountFn(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC, null) !== 0)
    sysFail('mount', `--rbind ${NETNS_RUN_DIR}`);
  if (mountFn('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC, null) !== 0)
    sysFail('mount', `--make-rshared ${NETNS_RUN_DIR}`);
}

/**
 * Creates a named namespace like `ip netns add NAME`. Throws if it exists already. A file of that name
 * with no namespace mounted on it (left by a crash between create and mount, or by a mount namespace
 * that went away with its mounts) is stale: it is replaced.
 */
export function createNetns(name: string): string {
  const p = path.join(NETNS_RUN_DIR, parseNetnsName(name));
  ensureSharedRunDir();
  if (fs.existsSync(p) && !netnsExists(p)) fs.rmSync(p, { force: true });
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o444);
  } catch (e) {
    throw new VxmeshError(`network namespace ${name} already exists (${(e as Error).message})`);
  }
  fs.closeSync(fd);
  const home = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    if (unshareFn(CLONE_NEWNET) !== 0) {
      fs.rmSync(p, { force: true });
      sysFail('unshare', 'CLONE_NEWNET');
    }
    try {
      if (mountFn('/proc/thread-self/ns/net', p, 'none', MS_BIND, null) !== 0) {
        fs.rmSync(p, { force: true });
        sysFail('mount', `--bind net namespace to ${p}`);
      }
    } finally {
      if (setnsFn(home, CLONE_NEWNET) !== 0) sysFail('setns', 'back to the home namespace');
    }
  } finally {
    fs.closeSync(home);
  }
  return p;
}

/** Deletes a named namespace like `ip netns del NAME`. Missing is not an error. */
export function deleteNetns(name: string): void {
  const p = netnsPath(name);
  if (!fs.existsSync(p)) return;
  umount2Fn(p, MNT_DETACH);
  fs.rmSync(p, { force: true });
}

/** Names of the namespaces under /run/netns. */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).sort();
  } catch {
    return [];
  }
}
