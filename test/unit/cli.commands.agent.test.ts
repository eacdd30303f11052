/** Boolean flags of `vxmesh agent`: bare, negated, =true/false and the older separate word. */
import t from 'tap';
import { parseAgentArgs } from '../../cli/commands/agent.js';
import { expandBooleanFlags, UsageError } from '../../cli/support.js';
import type { AgentConfig } from '../../daemon/config.js';

const cfg = (...argv: string[]): AgentConfig => {
  const c = parseAgentArgs([...argv, '--insecure'], {});
  if (c === 'help') throw new Error('help');
  return c;
};

t.test('defaults: the plugin on, the sync off', async (t) => {
  t.match(cfg(), { dockerPlugin: true, dockerSync: false });
});

t.test('bare and negated', async (t) => {
  t.match(cfg('--docker-sync', '--docker-host', '/run/d.sock'), { dockerSync: true, dockerHost: '/run/d.sock' });
  t.match(cfg('--no-docker-plugin'), { dockerPlugin: false });
  t.match(cfg('--no-docker-sync', '--docker-plugin'), { dockerSync: false, dockerPlugin: true });
  t.match(cfg('--docker-sync', '--no-docker-sync'), { dockerSync: false }, 'the last one wins');
});

t.test('=true/false and the separate word still work', async (t) => {
  t.match(cfg('--docker-sync=true', '--docker-plugin=false'), { dockerSync: true, dockerPlugin: false });
  t.match(cfg('--docker-sync', 'true', '--docker-plugin', 'false'), { dockerSync: true, dockerPlugin: false });
  t.match(cfg('--docker-sync=1', '--docker-plugin=0'), { dockerSync: true, dockerPlugin: false });
});

t.test('bad values are refused, naming the flag', async (t) => {
  t.throws(() => cfg('--docker-sync=maybe'), { name: 'ValidationError', field: '--docker-sync' });
  t.throws(() => cfg('--no-docker-sync=true'), UsageError);
  t.throws(() => cfg('--no-name'), { name: 'UsageError', message: /no-name/ }, 'only booleans have a --no- form');
  t.throws(() => cfg('--docker-sync', 'maybe'), {
    name: 'UsageError',
    message:
      '--docker-sync: "maybe" is not a value it takes: --docker-sync, --no-docker-sync, or --docker-sync=true|false',
  });
  t.throws(() => cfg('stray'), { name: 'UsageError', message: 'unexpected argument "stray"' });
});

t.test('expandBooleanFlags leaves other flags and everything after -- alone', async (t) => {
  t.same(expandBooleanFlags(['--name', 'h1', '--x', '--', '--x'], ['x']), ['--name', 'h1', '--x=true', '--', '--x']);
  t.same(expandBooleanFlags(['--no-x', '--xy'], ['x']), ['--x=false', '--xy']);
});

t.test('--insecure is a bare boolean too; without it or a key the agent does not start', async (t) => {
  t.match(cfg(), { insecure: true });
  t.throws(() => parseAgentArgs([], {}), { name: 'ValidationError', field: 'cluster-key' });
  t.match(parseAgentArgs(['--cluster-key', '/k'], {}), { clusterKey: '/k', insecure: false });
});

t.test('--help', async (t) => {
  t.equal(parseAgentArgs(['--docker-sync', '--help'], {}), 'help');
});
