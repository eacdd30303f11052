/** The CNI launcher starts with the fewest modules: a process start is most of a CNI call's cost (bench:cni). */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const distCni = path.resolve(import.meta.dirname, '../../cni');

/** The modules a compiled module imports, transitively (relative ones followed; node: builtins listed). */
function importGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
    const spec = m[1] as string;
    if (spec.startsWith('.')) importGraph(path.resolve(path.dirname(file), spec), seen);
    else seen.add(spec);
  }
  return seen;
}

t.test("the launcher's import graph: node:fs, node:http and two constant modules", async (t) => {
  const graph = [...importGraph(path.join(distCni, 'launcher.js'))].map((f) =>
    f.startsWith('/') ? path.relative(path.resolve(distCni, '..'), f) : f,
  );
  t.same(graph.sort(), ['cni/launcher.js', 'cni/versions.js', 'core/defaults.js', 'node:fs', 'node:http'].sort());
});
