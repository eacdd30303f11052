/**
 * Where the agent's DNS keeper lives on disk (its socket, PID file and log, in the state directory)
 * and how it is started: `vxmesh dns-keeper` as a detached process of its own session (output to its
 * log file, never a pipe), in a systemd scope of its own when the agent runs as a unit (core/own-scope.ts),
 * so that neither a kill -9 of the agent nor a restart of its unit stops it.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { ownScope } from '../core/own-scope.js';
import type { KeeperSettings } from '../dns/keeper-protocol.js';
import { keeperFiles } from '../core/dns-keeper-files.js';

/** Starts a keeper (the caller waits for its socket to answer). */
export function launchDnsKeeper(stateDir: string, settings: KeeperSettings, logLevel: string): void {
  const files = keeperFiles(stateDir);
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('the vxmesh executable is unknown (process.argv[1])');
  const out = fs.openSync(files.log, 'a', 0o600);
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
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.on('error', () => undefined);
  child.unref();
}
