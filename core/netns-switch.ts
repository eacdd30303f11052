/**
 * Running synchronous code with the calling thread switched into a network namespace (`setns(2)`
 * changes only the calling thread; Node runs JavaScript on one, so switch-in / act / switch-back
 * affects nothing else). Sockets created meanwhile stay in that namespace. Used by the data plane
 * (netlink sockets, sysctls) and by the DNS listeners.
 */
import fs from 'node:fs';
import { libc, sysFail } from './libc.js';

export const CLONE_NEWNET = 0x40000000;
export const setnsFn = libc.func('int setns(int fd, int nstype)');

/** Runs `fn` synchronously with this thread inside the namespace `fd`, then switches back. */
export function inNetnsFd<T>(fd: number, fn: () => T): T {
  const home = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    if (setnsFn(fd, CLONE_NEWNET) !== 0) sysFail('setns', `fd ${fd}`);
    try {
      return fn();
    } finally {
      if (setnsFn(home, CLONE_NEWNET) !== 0) sysFail('setns', 'back to the home namespace');
    }
  } finally {
    fs.closeSync(home);
  }
}
