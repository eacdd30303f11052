#!/usr/bin/env node
/** `vxmesh`: the command line. Each subcommand lives in cli/commands/. */
import { fileURLToPath } from 'node:url';
import { VxmeshError } from '../core/errors.js';
import { vxmeshVersion } from '../core/version.js';
import { UsageError, type CommandContext } from './support.js';
import { COMMANDS as commands } from './command-list.js';

function topUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: vxmesh COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options: --socket PATH (or $VXMESH_SOCKET) picks the agent, --json for machine-readable output,',
    '--help and --version on every command.',
    '',
    'Run "vxmesh COMMAND --help" for the options of a command.',
  ].join('\n');
}

/**
 * Global options may come before the command (`vxmesh --socket S peers`): they are moved after it,
 * where every command reads them.
 */
function globalOptionsAfterCommand(argv: string[]): string[] {
  const global: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json' || a.startsWith('--socket=')) global.push(a);
    else if (a === '--socket' && i + 1 < argv.length) global.push(a, argv[++i] as string);
    else break;
  }
  if (global.length === 0 || i >= argv.length) return argv;
  return [argv[i] as string, ...global, ...argv.slice(i + 1)];
}

export async function main(
  argv: string[],
  io: Pick<CommandContext, 'out' | 'err'> = { out: (s) => console.log(s), err: (s) => console.error(s) },
): Promise<number> {
  const [name, ...rest] = globalOptionsAfterCommand(argv);
  const json = rest.includes('--json');
  // --version (or -V) anywhere before `--`, with or without a command.
  const beforeDashes = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (beforeDashes.includes('--version') || beforeDashes.includes('-V')) {
    io.out(`vxmesh ${vxmeshVersion()} (Node.js ${process.version})`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(topUsage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    io.err(`vxmesh: unknown command "${name}"\n\n${topUsage()}`);
    return 2;
  }
  const cmd = await entry.load();
  // --help anywhere before `--` prints the command's usage (every command has one), before any parsing.
  const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (flags.includes('--help') || flags.includes('-h')) {
    io.out(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run({ argv: rest, ...io });
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(
        json
          ? JSON.stringify({ error: e.message, usage: `vxmesh ${cmd.name} --help` })
          : `vxmesh ${cmd.name}: ${e.message} (see "vxmesh ${cmd.name} --help")`,
      );
      return 2;
    }
    if (e instanceof VxmeshError) {
      const field = (e as { field?: string }).field;
      io.err(
        json
          ? JSON.stringify({ error: e.message, ...(field ? { field } : {}) })
          : `vxmesh ${cmd.name}: ${e.message}${field && !e.message.startsWith(field) ? ` (field: ${field})` : ''}`,
      );
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
