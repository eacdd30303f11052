/**
 * A state directory the agent cannot write: read-only (a read-only bind mount over it) or full (a
 * tmpfs of 256 KiB over it, filled: every write gets ENOSPC). Host 2 attaches a container meanwhile:
 * the attach must be refused naming the state directory, leave no interface in the container and the
 * state file as it was; once the directory is writable again (the mount gone) an attach works. The
 * agent's log file is open on the disk below, so its logging goes on (a real host logs to the journal).
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import type { Cluster } from '../../sim/cluster.js';
import { attach, NETWORK, startPings, stateFile, type Ct, type FaultReport } from './faults.js';

export async function unwritableStateDir(
  c: Cluster,
  cts: Ct[],
  kind: 'read-only' | 'full',
  fault: string,
): Promise<FaultReport> {
  const dir = c.agents.get(2)?.stateDir as string;
  const file = stateFile(c, 2);
  const before = fs.readFileSync(file, 'utf8');
  const pings = startPings(cts);
  const errors: string[] = [];
  let refused = '';
  // The agent's admin socket is in the simulated host's state directory (a real host's is in /run):
  // bound into the tmpfs from the directory below it, so the CLI still reaches the agent.
  const sock = c.socket(2);
  if (kind === 'read-only') await $`mount --bind ${dir} ${dir}`;
  else
    await $`bash -c ${`exec 3<"$0" && mount -t tmpfs -o size=256k,mode=0700 vxmesh-full "$0" && touch "$1" && mount --no-canonicalize --bind "/proc/self/fd/3/$2" "$1"`} ${dir} ${sock} ${path.basename(sock)}`;
  try {
    if (kind === 'read-only') await $`mount -o remount,bind,ro ${dir}`;
    else await $`dd if=/dev/zero of=${dir}/filler bs=4k`.nothrow(); // until ENOSPC
    const spare = await c.tb.addContainer(2, kind === 'full' ? 72 : 70);
    const r = await c.vx(2, ['attach', NETWORK, '--netns', spare], { nothrow: true });
    refused = `${r.stderr}${r.stdout}`.trim();
    if (r.exitCode === 0) errors.push(`attach succeeded on a ${kind} state directory`);
    else if (!refused.includes('stateDir')) errors.push(`attach refused for another reason: ${refused}`);
    const links = (await $`ip -n ${spare} -o link show`).stdout;
    if (links.includes('eth0')) errors.push('the refused attach left an interface in the container');
  } finally {
    if (kind === 'full') await $`umount ${sock}`.nothrow();
    await $`umount ${dir}`;
  }
  if (fs.readFileSync(file, 'utf8') !== before) errors.push('the state file changed');
  JSON.parse(fs.readFileSync(file, 'utf8'));
  cts.push(await attach(c, 2, kind === 'full' ? 73 : 71));
  return { fault, ...(await pings.stop()), errors, refusedWith: refused };
}
