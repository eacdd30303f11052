/** `vxmesh keygen`: a new cluster key. */
import fs from 'node:fs';
import { clusterKeyFingerprint, generateClusterKey } from '../../discovery/node.js';
import { parseFlags, UsageError, type Command } from '../support.js';

const usage = `Usage: vxmesh keygen [FILE]

Writes a new cluster key (libp2p swarm key format) to FILE (mode 0600, refused if it exists) or to
standard output, and prints the next steps. Give the same file to every agent with --cluster-key:
hosts without it cannot connect. Agents refuse to start without a key unless --insecure is given.`;

export const keygenCommand: Command = {
  name: 'keygen',
  usage,
  async run(ctx) {
    const { positionals } = parseFlags(ctx.argv, {});
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const key = generateClusterKey();
    if (!positionals[0]) {
      ctx.out(key.trimEnd());
      return 0;
    }
    try {
      fs.writeFileSync(positionals[0], key, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      throw new UsageError(`cannot write ${positionals[0]}: ${(e as Error).message}`);
    }
    const file = positionals[0];
    const fingerprint = clusterKeyFingerprint(Buffer.from(key));
    ctx.out(`wrote ${file} (mode 0600, fingerprint ${fingerprint})
next steps:
  1. copy it to every host over a secure channel, root-only, e.g.
       scp ${file} HOST:/tmp/cluster.key && ssh HOST 'install -D -m 600 /tmp/cluster.key /etc/vxmesh/cluster.key && rm /tmp/cluster.key'
  2. start every agent with it (or "clusterKey" in /etc/vxmesh/agent.json):
       vxmesh agent --cluster-key /etc/vxmesh/cluster.key --join SEED:7946
  3. check: every agent logs "clusterKey":"${fingerprint}" in its "discovery started" line.
  To change the key of a running cluster, see docs/operations.md, "Changing the cluster key".`);
    return 0;
  },
};
