/**
 * Is a host's data plane still there although its agent is gone or silent? ICMP echo to its VTEP
 * address from this host's namespace, in-process (icmp-echo.ts: a raw socket, no `ping` binary):
 * `attempts` echoes started `spacingMs` apart, each waited for `timeoutMs`, so one lost packet does not
 * count as a dead host, and a silent host is known after (attempts − 1) × spacing + timeout
 * (450 ms by default) rather than attempts × timeout.
 */
import { isVtepAddress } from '../core/addresses.js';
import { icmpEcho } from './icmp-echo.js';

export interface VtepProbeOptions {
  attempts?: number;
  timeoutMs?: number;
  spacingMs?: number;
  /** Probe from this namespace instead of the caller's (tests). */
  netns?: string;
}

/** Resolves true at the first reply. Rejects when ICMP cannot be sent at all (no CAP_NET_RAW). */
export async function vtepAnswers(vtep: string, opts: VtepProbeOptions = {}): Promise<boolean> {
  if (!isVtepAddress(vtep)) return false;
  const attempts = opts.attempts ?? 3;
  const timeoutMs = opts.timeoutMs ?? 250;
  const spacingMs = opts.spacingMs ?? 100;
  if (attempts < 1) return false;
  return new Promise<boolean>((resolve, reject) => {
    let pending = attempts;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      settle();
    };
    for (let i = 0; i < attempts; i++) {
      timers.push(
        setTimeout(() => {
          icmpEcho(vtep, timeoutMs, { netns: opts.netns }).then(
            (answered) => {
              pending--;
              if (answered) finish(() => resolve(true));
              else if (pending === 0) finish(() => resolve(false));
            },
            (e: unknown) => finish(() => reject(e)),
          );
        }, i * spacingMs),
      );
    }
  });
}
