/** `vxmesh COMMAND --help` prints that command's usage, whatever else is on the line. */
import t from 'tap';
import { main } from '../../cli/cli.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('--help and -h print the usage of the command and exit 0', async (t) => {
  for (const [cmd, usage] of [
    ['peers', /^Usage: vxmesh peers/],
    ['attach', /^Usage: vxmesh attach/],
    ['keygen', /^Usage: vxmesh keygen/],
    ['network', /^Usage: vxmesh network/],
    ['fdb', /^Usage: vxmesh fdb/],
    ['agent', /^Usage: vxmesh agent/],
  ] as const) {
    const r = await run(cmd, '--help');
    t.equal(r.code, 0, `${cmd} --help`);
    t.match(r.out, usage);
  }
  const short = await run('endpoints', 'web', '-h', '--bogus');
  t.equal(short.code, 0, 'before any flag is parsed');
  t.match(short.out, /^Usage: vxmesh endpoints/);
});

t.test('after -- it is an argument, not a request for help', async (t) => {
  const r = await run('keygen', '--', '--help', 'extra');
  t.equal(r.code, 2);
  t.match(r.err, /unexpected argument "extra"/);
});

t.test('--version (or -V), alone or on any command, prints the version and exits 0', async (t) => {
  const { version } = JSON.parse(
    (await import('node:fs')).readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as { version: string };
  for (const argv of [['--version'], ['-V'], ['peers', '--version'], ['network', 'ls', '--version']]) {
    const r = await run(...argv);
    t.equal(r.code, 0, argv.join(' '));
    t.equal(r.out, `vxmesh ${version} (Node.js ${process.version})`, argv.join(' '));
  }
  t.equal((await run('peers', '--', '--version')).code, 2, 'after -- it is an argument');
});

t.test(
  'CLI conventions: global options before the command, one-line usage errors, JSON errors under --json',
  async (t) => {
    const before = await run('--socket', '/nonexistent/vxmesh.sock', 'peers');
    t.equal(before.code, 1, 'the command ran (and could not reach that agent)');
    t.match(before.err, /^vxmesh peers: cannot reach the agent at \/nonexistent\/vxmesh\.sock/);
    const usage = await run('peers', '--bogus');
    t.equal(usage.code, 2);
    t.equal(usage.err, `vxmesh peers: Unknown option '--bogus' (see "vxmesh peers --help")`, 'one line, not the usage');
    const asJson = await run('--json', 'peers', '--bogus');
    t.same(JSON.parse(asJson.err), { error: "Unknown option '--bogus'", usage: 'vxmesh peers --help' });
    const failed = await run('peers', '--json', '--socket', '/nonexistent/vxmesh.sock');
    t.match((JSON.parse(failed.err) as { error: string }).error, /cannot reach the agent/, 'errors as JSON too');
    const bool = await run('agent', '--docker-sync', 'maybe');
    t.match(
      bool.err,
      /--docker-sync: "maybe" is not a value it takes: --docker-sync, --no-docker-sync, or --docker-sync=true\|false/,
    );
  },
);

t.test('reset --cni-dir: a directory is required and must be absolute (usage error, nothing done)', async (t) => {
  const missing = await run('reset', '--cni-dir');
  t.equal(missing.code, 2);
  t.match(missing.err, /--cni-dir needs a directory/);
  const relative = await run('reset', '--cni-dir', 'bin', '--dry-run');
  t.equal(relative.code, 2);
  t.match(relative.err, /--cni-dir: "bin" is not an absolute path/);
});
