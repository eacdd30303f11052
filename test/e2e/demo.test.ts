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
t.ok(
  fdbRows.every((l) => /\sok\s*$/.test(l)),
  'every row is ok',
);
t.match(out, /demo\s+vni \d+\s+\S+\s+drift 0/, 'no drift');
t.match(out, /h2\s.*alive/, 'peers lists the other hosts alive');
t.match(out, /ping 203\.0\.113\.1 from h1\/c1 \(198\.18\.10\.\d+\): ok/, 'a container pings the outside host');
t.match(
  out,
  /the outside host saw 198\.51\.100\.11 \(h1's address/,
  'and connects to it over TCP, source-NATed to its host',
);
t.match(
  out,
  /h3:8080 \(published to h3\/c2:7001\): connected; the container saw 203\.0\.113\.1/,
  'the outside host reaches a published port',
);
t.match(
  out,
  /h3c2 → 198\.18\.10\.\d+\s+\(asked 198\.18\.10\.1 from h1\/c1/,
  'a container resolves a container of another host by name',
);
t.match(out, /ping h3c2\.demo: ok/, 'and pings it by name');
t.match(out, /egress nat via vxg\d+ 169\.254\.\d+\.\d+\s+rules ok/, 'fdb shows the egress state with its rules ok');
const left = (await $`ip netns list`).stdout.split('\n').filter((l) => l.startsWith(prefix));
t.same(left, [], 'no namespace of the demo run is left');
if (code !== 0) t.comment(out.slice(-3000));
