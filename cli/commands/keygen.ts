/** `vxmesh keygen`: a new cluster key. */
import fs from 'node:fs';
import { generateClusterKey } from '../../discovery/node.js';
import { parseFlags, UsageError, type Command } from '../support.js';

const usage = `Usage: vxmesh keygen [FILE]

Writes a new cluster key (libp2p swarm key format) to FILE (mode 0600, refused if it exists) or to
standard output. Give the same file to every agent with --cluster-key: peers without it cannot connect.`;

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'generate a cluster key',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, {});
    if (values.help) {
      ctx.out(usage);
      return 0;
    }
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
    ctx.out(`wrote ${positionals[0]}`);
    return 0;
  },
};
