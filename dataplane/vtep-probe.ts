/**
 * Is a host's data plane still there although its agent is gone? ICMP echo to its VTEP address, sent
 * from this host's namespace with the system's `ping` (iputils): up to `attempts` tries of
 * `timeoutS` each, so one lost packet does not count as a dead host. Used to keep forwarding to the
 * containers of a host whose agent crashed or was stopped (its kernel state stays in place), and to
 * withdraw them quickly when the host itself is gone.
 */
import { execFile } from 'node:child_process';
import { isIPv4 } from '../core/addresses.js';

function pingOnce(vtep: string, timeoutS: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('ping', ['-n', '-q', '-c', '1', '-W', String(timeoutS), vtep], { timeout: (timeoutS + 1) * 1000 }, (err) => resolve(!err));
  });
}

export async function vtepAnswers(vtep: string, timeoutS = 0.5, attempts = 2): Promise<boolean> {
  if (!isIPv4(vtep)) return false;
  for (let i = 0; i < attempts; i++) if (await pingOnce(vtep, timeoutS)) return true;
  return false;
}
