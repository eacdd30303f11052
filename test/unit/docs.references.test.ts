/**
 * References that point into the docs resolve: every `docs/NAME.md, "Section"` in the program's sources,
 * the docs and the README names a heading of that file, and the units' Documentation= files are docs
 * the package installs (scripts/package.sh copies docs/*.md to /usr/share/doc/vxmesh/).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const SOURCE_DIRS = [
  'agent',
  'api',
  'cli',
  'core',
  'daemon',
  'dataplane',
  'discovery',
  'dns',
  'docker',
  'egress',
  'ipam',
  'store',
  'scripts',
  'sim',
  'docs',
  'packaging',
];

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

const headings = (doc: string): string[] =>
  fs
    .readFileSync(path.join(ROOT, 'docs', doc), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .map((l) => l.replace(/^#+\s*/, '').trim());

const files = [...SOURCE_DIRS.flatMap((d) => filesUnder(path.join(ROOT, d))), path.join(ROOT, 'README.md')].filter(
  (f) => /\.(ts|md|service|socket)$/.test(f),
);

t.test('docs/NAME.md, "Section" names a heading of NAME.md', async (t) => {
  let n = 0;
  for (const f of files)
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/docs\/([a-z-]+\.md),? "([^"]+)"/g)) {
      const [, doc, section] = m as unknown as [string, string, string];
      n++;
      t.ok(
        fs.existsSync(path.join(ROOT, 'docs', doc)) && headings(doc).some((h) => h.startsWith(section)),
        `${path.relative(ROOT, f)}: docs/${doc}, "${section}"`,
      );
    }
  t.ok(n >= 5, `${n} references checked`);
});

t.test("the units' Documentation= files are docs the package installs", async (t) => {
  for (const unit of ['vxmesh-agent.service', 'vxmesh-plugin.socket'])
    for (const m of fs.readFileSync(path.join(ROOT, 'packaging', unit), 'utf8').matchAll(/^Documentation=(\S+)$/gm)) {
      const doc = /^file:\/\/\/usr\/share\/doc\/vxmesh\/([a-z-]+\.md)$/.exec(m[1] as string)?.[1];
      t.ok(doc !== undefined && fs.existsSync(path.join(ROOT, 'docs', doc)), `${unit}: ${m[1]}`);
    }
});

t.test('keygen points to the section on changing the key', async (t) => {
  const src = fs.readFileSync(path.join(ROOT, 'cli/commands/keygen.ts'), 'utf8');
  t.match(src, /docs\/operations\.md, "Changing the cluster key"/);
});
