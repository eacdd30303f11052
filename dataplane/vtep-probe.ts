/**
 * Is a host's data plane still there although its agent is gone? One ICMP echo to its VTEP address,
 * sent from this host's namespace with the system's `ping` (iputils). Used to keep forwarding to the
 * containers of a host whose agent crashed or was stopped (its kernel state stays in place), and to
 * withdraw them quickly when the host itself is gone.
 */
import { execFile } from 'node:child_process';
import { isIPv4 } from './validate.js';

export function vtepAnswers(vtep: string, timeoutS = 1): Promise<boolean> {
  if (!isIPv4(vtep)) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile('ping', ['-n', '-q', '-c', '1', '-W', String(timeoutS), vtep], { timeout: (timeoutS + 1) * 1000 }, (err) => resolve(!err));
  });
}
