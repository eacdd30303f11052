/**
 * The host's packet filter through `iptables-save` / `iptables-restore` (Debian package `iptables`,
 * whichever backend the system selected — the same one dockerd uses, so our chains and Docker's live
 * in the same tables). Commands run in a namespace through `nsenter --net=PATH` when one is given.
 *
 * Why the command line and not a library: the npm wrappers of iptables are unmaintained and issue
 * one command per rule; `iptables-restore --noflush` applies a whole change atomically, and
 * `iptables-save` is the documented way to read rules back. nftables through `nft` was rejected for
 * the host because Docker's FORWARD policy DROP lives in iptables' `filter` table: an accept in a
 * table of our own would not stop that drop, and nft rules added to iptables-nft's tables make
 * `iptables` refuse to list them.
 */
import { execFile, spawn } from 'node:child_process';
import { VxmeshError } from '../core/errors.js';

export type NetfilterTable = 'filter' | 'nat';

/** The rules of one table as `iptables-save` prints them: chain → rule arguments (after `-A CHAIN `). */
export type TableDump = Map<string, string[]>;
/** Every table of a namespace. */
export type RulesetDump = Map<NetfilterTable, TableDump>;

/** Runs iptables-save / iptables-restore (ip6tables-* with `family` 6); tests give a fake. */
export interface IptablesRunner {
  save(netns?: string, family?: 4 | 6): Promise<string>;
  restore(script: string, netns?: string, family?: 4 | 6): Promise<void>;
}

const tool = (family: 4 | 6 | undefined, what: 'save' | 'restore') =>
  `${family === 6 ? 'ip6tables' : 'iptables'}-${what}`;

export class IptablesMissingError extends VxmeshError {
  override name = 'IptablesMissingError';
}

const withNetns = (netns: string | undefined, cmd: string, args: string[]): [string, string[]] =>
  netns === undefined ? [cmd, args] : ['nsenter', [`--net=${netns}`, cmd, ...args]];

const missing = (cmd: string) =>
  new IptablesMissingError(
    `${cmd} is not installed: egress needs the Debian package iptables (apt-get install iptables), or start the agent with --no-egress`,
  );

export const commandRunner: IptablesRunner = {
  save(netns, family) {
    const [cmd, args] = withNetns(netns, tool(family, 'save'), []);
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err)
          reject(
            (err as NodeJS.ErrnoException).code === 'ENOENT'
              ? missing(cmd)
              : new VxmeshError(
                  `${tool(family, 'save')}${netns ? ` in ${netns}` : ''} failed: ${stderr.trim() || err.message}`,
                ),
          );
        else resolve(stdout);
      });
    });
  },
  restore(script, netns, family) {
    const [cmd, args] = withNetns(netns, tool(family, 'restore'), ['--noflush', '--wait']);
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missing(cmd) : e));
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(
              new VxmeshError(
                `${tool(family, 'restore')}${netns ? ` in ${netns}` : ''} failed (exit ${code}): ${stderr.trim()}\n--- input ---\n${script}`,
              ),
            ),
      );
      // EPIPE when the command exits before reading (e.g. its namespace is gone): its exit code reports it.
      child.stdin.on('error', () => undefined);
      child.stdin.end(script);
    });
  },
};

/**
 * Which backend `iptables` runs here: `nf_tables` reports every change (filter-events.ts), `legacy`
 * none; `unknown` when its version line says neither (or it cannot run).
 */
export function iptablesBackend(): Promise<'nf_tables' | 'legacy' | 'unknown'> {
  return new Promise((resolve) =>
    execFile('iptables', ['--version'], (err, stdout) =>
      resolve(
        err
          ? 'unknown'
          : stdout.includes('(nf_tables)')
            ? 'nf_tables'
            : stdout.includes('(legacy)')
              ? 'legacy'
              : 'unknown',
      ),
    ),
  );
}

/** Throws a clear error when iptables-save / iptables-restore cannot run here. */
export async function checkIptables(runner: IptablesRunner = commandRunner): Promise<void> {
  await runner.save();
}

/** Parses `iptables-save` output (the tables vxmesh uses; others are skipped). */
export function parseSave(text: string): RulesetDump {
  const out: RulesetDump = new Map();
  let table: TableDump | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      table = name === 'filter' || name === 'nat' ? new Map() : undefined;
      if (table) out.set(name as NetfilterTable, table);
    } else if (!table) continue;
    else if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0] as string;
      if (!table.has(chain)) table.set(chain, []);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const rule = sp < 0 ? '' : rest.slice(sp + 1);
      if (!table.has(chain)) table.set(chain, []);
      table.get(chain)?.push(rule);
    }
  }
  return out;
}

/**
 * Packets dropped by a chain's DROP rules (`iptables -L CHAIN -v -x -n`), 0 when the chain does not
 * exist. `ip6tables` with `family` 6. Counters restart when the chain is rewritten.
 */
export function droppedBy(chain: string, netns?: string, family: 4 | 6 = 4): Promise<number> {
  const [cmd, args] = withNetns(netns, family === 6 ? 'ip6tables' : 'iptables', ['-w', '-L', chain, '-v', '-x', '-n']);
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout) => {
      if (err) return resolve(0);
      let n = 0;
      for (const line of stdout.split('\n')) {
        const m = /^\s*(\d+)\s+\d+\s+DROP\b/.exec(line);
        if (m) n += Number(m[1]);
      }
      resolve(n);
    });
  });
}
