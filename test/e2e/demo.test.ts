/**
 * The README's `npm run demo` (its compiled script): exits 0 after every container answered every
 * other, prints the fdb dump with every row ok, and leaves no namespace of its run behind.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

const script = new URL('../../scripts/demo.js', import.meta.url).pathname;
const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
const prefix = `vxt${(child.pid as number).toString(36)}-demo-`;
let out = '';
child.stdout.on('data', (d: Buffer) => (out += d.toString()));
child.stderr.on('data', (d: Buffer) => (out += d.toString()));
const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

t.equal(code, 0, 'the demo exits 0');
t.match(out, /all 30 pairs answered/, 'all-pairs ping matrix complete (6 containers on 3 hosts)');
t.notMatch(out, /FAIL/, 'no failed cell');
const fdbRows = out.split('\n').filter((l) => /^\s*(fdb|neigh)\s+[0-9a-f]{2}:/.test(l));
t.equal(fdbRows.length, 8, 'the fdb dump of h1 lists an fdb and a neighbour row per remote container (4)');
t.ok(fdbRows.every((l) => /\sok\s*$/.test(l)), 'every row is ok');
t.match(out, /demo\s+vni \d+\s+\S+\s+drift 0/, 'no drift');
t.match(out, /h2\s.*alive/, 'peers lists the other hosts alive');
const left = (await $`ip netns list`).stdout.split('\n').filter((l) => l.startsWith(prefix));
t.same(left, [], 'no namespace of the demo run is left');
if (code !== 0) t.comment(out.slice(-3000));
