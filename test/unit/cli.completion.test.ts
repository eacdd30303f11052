/** `vxmesh completion bash`: the script, sourced in bash, completes commands, subcommands and each command's flags. */
import t from 'tap';
import { $ } from 'zx';
import { main } from '../../cli/cli.js';

let script = '';
const code = await main(['completion', 'bash'], { out: (s) => (script += s + '\n'), err: () => undefined });

/** What bash offers for the words typed so far (the last one being completed). */
async function complete(...words: string[]): Promise<string[]> {
  const line = ['vxmesh', ...words];
  const r = await $({
    input: script,
  })`bash -c ${`eval "$(cat)"; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _vxmesh; echo "\${COMPREPLY[*]}"`}`;
  return r.stdout.trim().split(/\s+/).filter(Boolean);
}

t.test('completion script', async (t) => {
  t.equal(code, 0);
  t.match(script, /complete -o default -F _vxmesh vxmesh/);
  t.same(await complete('net'), ['network'], 'a command');
  t.same(await complete('network', 'cr'), ['create'], 'a subcommand');
  t.same(await complete('agent', '--wireg'), ['--wireguard', '--wireguard-port'], "the command's flags");
  t.same(await complete('agent', '--no-wi'), ['--no-wireguard'], 'the negated form of a boolean flag');
  t.same(await complete('--socket', '/run/x.sock', 'res'), ['reset'], 'after a global option and its value');
  t.same(await complete('keygen', '--clu'), [], 'no flag a command does not take (keygen has no --cluster-key)');
  t.same(await complete('reset', '--dry'), ['--dry-run']);
});

t.test('other shells: a usage error naming what is supported', async (t) => {
  let err = '';
  const c = await main(['completion', 'zsh'], { out: () => undefined, err: (s) => (err += s) });
  t.equal(c, 2);
  t.match(err, /the shell supported is bash/);
});
