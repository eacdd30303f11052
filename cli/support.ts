/** Shared pieces of the `vxmesh` command line: option parsing with clear errors, output helpers. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CommandContext {
  argv: string[];
  out: (s: string) => void;
  err: (s: string) => void;
}

export interface Command {
  name: string;
  usage: string;
  run(ctx: CommandContext): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode, turning its errors into UsageError messages that name the flag. */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg);
  }
}

/**
 * Boolean flags the common way: `--flag` (true), `--no-flag` (false), `--flag=true|false`; the older
 * `--flag true|false` (a separate word) is still read. Returns argv with each of them as
 * `--flag=true|false`, for options declared as strings (the config parser reads the value).
 */
export function expandBooleanFlags(argv: string[], booleans: readonly string[]): string[] {
  const names = new Set(booleans);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--(no-)?([A-Za-z0-9-]+)(=.*)?$/.exec(a);
    const name = m?.[2];
    if (!m || name === undefined || !names.has(name)) {
      out.push(a);
      continue;
    }
    if (m[1] !== undefined) {
      if (m[3] !== undefined) throw new UsageError(`--no-${name} takes no value (use --${name}=true|false)`);
      out.push(`--${name}=false`);
    } else if (m[3] !== undefined) {
      out.push(a);
    } else if (argv[i + 1] === 'true' || argv[i + 1] === 'false') {
      out.push(`--${name}=${argv[i + 1] as string}`);
      i++;
    } else {
      out.push(`--${name}=true`);
    }
  }
  return out;
}
