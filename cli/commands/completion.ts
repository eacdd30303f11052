/**
 * `vxmesh completion bash`: a bash completion script made from the commands' own usage texts (their
 * subcommands and flags), so it never lists a flag a command does not take. Installed by the Debian
 * package as /usr/share/bash-completion/completions/vxmesh.
 */
import { UsageError, type Command } from '../support.js';

const usage = `Usage: vxmesh completion bash

Prints a bash completion script for vxmesh: commands, subcommands and each command's flags.
  source <(vxmesh completion bash)                                   (this shell)
  vxmesh completion bash > /etc/bash_completion.d/vxmesh             (every shell; the Debian
                                                                      package installs it already)`;

const GLOBAL = ['--socket', '--json', '--help', '--version'];

/** Subcommands (`vxmesh network create ...` → create) and flags (`--[no-]x` → --x, --no-x) of a usage text. */
export function wordsOf(cmd: Command): { subcommands: string[]; flags: string[] } {
  const subcommands = new Set<string>();
  for (const m of cmd.usage.matchAll(new RegExp(`^\\s*(?:Usage: )?vxmesh ${cmd.name} ([a-z][a-z-]*)\\b`, 'gm')))
    subcommands.add(m[1] as string);
  // Flags of the synopsis (up to the first empty line) and of the option lines (starting with a flag).
  const synopsis = cmd.usage.split('\n\n')[0] ?? '';
  const optionLines = cmd.usage.split('\n').filter((l) => /^\s+(-[a-zA-Z], )?--/.test(l));
  const flags = new Set<string>();
  for (const m of [synopsis, ...optionLines].join('\n').matchAll(/--(\[no-\])?([a-z][a-z0-9-]*)/g)) {
    flags.add(`--${m[2] as string}`);
    if (m[1]) flags.add(`--no-${m[2] as string}`);
  }
  for (const g of GLOBAL) flags.add(g);
  return { subcommands: [...subcommands].sort(), flags: [...flags].sort() };
}

export function bashCompletion(commands: Command[]): string {
  const cases = commands.map((c) => {
    const w = wordsOf(c);
    return `    ${c.name}) words="${[...w.subcommands, ...w.flags].join(' ')}" ;;`;
  });
  return `# bash completion for vxmesh (made by "vxmesh completion bash")
_vxmesh() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --socket) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $cmd in
    "") words="${[...commands.map((c) => c.name), ...GLOBAL].join(' ')}" ;;
${cases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _vxmesh vxmesh
`;
}

export function completionCommand(commands: () => Promise<Command[]>): Command {
  return {
    name: 'completion',
    usage,
    async run(ctx) {
      const shell = ctx.argv.filter((a) => !a.startsWith('-'));
      if (shell.length !== 1 || shell[0] !== 'bash')
        throw new UsageError(
          shell.length ? `"${shell.join(' ')}": the shell supported is bash` : 'which shell? (bash)',
        );
      ctx.out(bashCompletion([...(await commands()), this]).trimEnd());
      return 0;
    },
  };
}
