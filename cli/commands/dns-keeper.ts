/** `vxmesh dns-keeper`: the process holding the DNS servers through agent restarts (started by the agent). */
import { runKeeper } from '../../dns/keeper-server.js';
import type { KeeperSettings } from '../../dns/keeper-protocol.js';
import { createLogger } from '../../daemon/logger.js';
import type { LogLevel } from '../../daemon/config.js';
import { parseFlags, UsageError, type Command } from '../support.js';

// Not from daemon/config.ts: that module loads the cluster stack, which the keeper never needs.
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const usage = `Usage: vxmesh dns-keeper --socket PATH --settings JSON [--pid-file PATH] [--log-level LEVEL]
                         [--orphan-s N]

Started by the agent, not by hand: holds the DNS server of every network with endpoints on this host
and answers from the zones the agent gives it over PATH, also while the agent is down (a kill -9, a
restart, an upgrade). The next agent adopts it. With no agent connected for --orphan-s seconds
(default 60) it closes its servers and ends. docs/operations.md, "Names through agent restarts".`;

export const dnsKeeperCommand: Command = {
  name: 'dns-keeper',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(
      ctx.argv,
      {
        socket: { type: 'string' },
        settings: { type: 'string' },
        'pid-file': { type: 'string' },
        'log-level': { type: 'string' },
        'orphan-s': { type: 'string' },
      },
      false,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (!values.socket) throw new UsageError('--socket: required');
    if (!values.settings) throw new UsageError('--settings: required');
    let settings: KeeperSettings;
    try {
      settings = JSON.parse(values.settings) as KeeperSettings;
    } catch {
      throw new UsageError('--settings: not JSON');
    }
    if (typeof settings !== 'object' || settings === null || typeof settings.limits !== 'object')
      throw new UsageError('--settings: an object with "limits" expected');
    const level = (values['log-level'] ?? 'info') as LogLevel;
    if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: one of ${LOG_LEVELS.join(', ')}`);
    const orphanS = Number(values['orphan-s'] ?? 60);
    if (!Number.isFinite(orphanS) || orphanS <= 0) throw new UsageError('--orphan-s: a positive number of seconds');
    const log = createLogger(level, 'dns-keeper');
    const keeper = await runKeeper({
      socketPath: values.socket,
      settings,
      log,
      orphanMs: orphanS * 1000,
      pidFile: values['pid-file'],
    });
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => keeper.close());
    await keeper.done;
    return 0;
  },
};
