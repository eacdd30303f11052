/**
 * Is a host's data plane still there although its agent is gone or silent? ICMP echo to its VTEP
 * address from this host's namespace, in-process (icmp-echo.ts: a raw socket, no `ping` binary):
 * up to `attempts` tries of `timeoutMs` each, so one lost packet does not count as a dead host.
 */
import { isIPv4 } from '../core/addresses.js';
import { icmpEcho } from './icmp-echo.js';

export interface VtepProbeOptions {
  attempts?: number;
  timeoutMs?: number;
  /** Probe from this namespace instead of the caller's (tests). */
  netns?: string;
}

/** Resolves true at the first reply. Rejects when ICMP cannot be sent at all (no CAP_NET_RAW). */
export async function vtepAnswers(vtep: string, opts: VtepProbeOptions = {}): Promise<boolean> {
  if (!isIPv4(vtep)) return false;
  const attempts = opts.attempts ?? 3;
  const timeoutMs = opts.timeoutMs ?? 200;
  for (let i = 0; i < attempts; i++) if (await icmpEcho(vtep, timeoutMs, { netns: opts.netns })) return true;
  return false;
}
