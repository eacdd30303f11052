/**
 * The systemd service-manager protocols the daemon speaks, without libsystemd:
 * - readiness (`Type=notify`): `READY=1`, `STATUS=...`, `STOPPING=1` as one datagram each to the unix
 *   socket named by NOTIFY_SOCKET (a path, or `@name` for an abstract socket);
 * - socket activation: sockets handed over as fds 3.. with LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES.
 * Node's `dgram` has no unix datagram sockets, so sending goes through libc (koffi); the npm wrappers
 * (`sd-notify`, `systemd-daemon`) are native addons needing a compiler and libsystemd headers.
 */
import { errno, strerror } from '../core/libc.js';
import {
  AF_UNIX,
  closeFn,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  sendtoFn,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  socketFn,
  unixAddress,
} from '../core/sockets.js';

const FIRST_FD = 3;

/**
 * Sends one state message to the service manager, if there is one (NOTIFY_SOCKET set). Returns
 * whether a message was sent; a failure to send is reported, never thrown (the daemon runs on).
 */
export function notifyServiceManager(
  state: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): { sent: boolean; error?: string } {
  const target = env.NOTIFY_SOCKET;
  if (!target) return { sent: false };
  let dest: { addr: Buffer; len: number };
  try {
    dest = unixAddress(target);
  } catch (e) {
    return { sent: false, error: `NOTIFY_SOCKET: ${(e as Error).message}` };
  }
  const fd = socketFn(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) return { sent: false, error: `socket(AF_UNIX, SOCK_DGRAM): ${strerror(errno())}` };
  try {
    const msg = Buffer.from(
      Object.entries(state)
        .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
        .join('\n'),
    );
    const n = sendtoFn(fd, msg, msg.length, MSG_DONTWAIT | MSG_NOSIGNAL, dest.addr, dest.len) as number;
    if (n < 0) return { sent: false, error: `sendto(${target}): ${strerror(errno())}` };
    return { sent: true };
  } finally {
    closeFn(fd);
  }
}

/**
 * The sockets the service manager passed to this process, by name (LISTEN_FDNAMES; a single unnamed
 * socket is called `plugin`, the one vxmesh's socket unit provides). Empty when LISTEN_PID is not this
 * process (the variables were inherited from a parent, and are not ours to use).
 */
export function activatedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return out;
  const count = Number(env.LISTEN_FDS ?? '0');
  if (!Number.isInteger(count) || count <= 0) return out;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  for (let i = 0; i < count; i++) {
    const name =
      names[i] && names[i] !== 'unknown' ? (names[i] as string) : count === 1 ? 'plugin' : `fd${FIRST_FD + i}`;
    out.set(name, FIRST_FD + i);
  }
  return out;
}
