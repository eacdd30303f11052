/**
 * Where the agent's DNS keeper lives on disk (its socket, PID file and log, in the state directory)
 * and how it is started: `vxmesh dns-keeper` as a detached process of its own session, in a systemd
 * scope of its own when the agent runs as a unit (core/own-scope.ts), so that neither a kill -9 of the
 * agent nor a restart of its unit stops it. Its output goes where the agent's goes (the journal under
 * systemd), never to a file in the state directory: a full state disk would stop a logger writing
 * there (measured: pino blocks on ENOSPC), and with it the names.
 */
import { spawn } from 'node:child_process';
import { ownScope } from '../core/own-scope.js';
import type { KeeperSettings } from '../dns/keeper-protocol.js';
import { keeperFiles } from '../core/dns-keeper-files.js';

/** Starts a keeper (the caller waits for its socket to answer). */
export function launchDnsKeeper(stateDir: string, settings: KeeperSettings, logLevel: string): void {
  const files = keeperFiles(stateDir);
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('the vxmesh executable is unknown (process.argv[1])');
  const [cmd, args] = ownScope('dns-keeper', [
    process.execPath,
    [
      entry,
      'dns-keeper',
      '--socket',
      files.socket,
      '--pid-file',
      files.pidFile,
      '--settings',
      JSON.stringify(settings),
      '--log-level',
      logLevel,
    ],
  ]);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', () => undefined);
  child.unref();
}
