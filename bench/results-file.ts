/** Where a benchmark's results go: bench/results/NAME in the source tree (benchmarks run from dist/bench). */
import fs from 'node:fs';
import path from 'node:path';

/** Writes `data` as JSON to bench/results/`name`; returns the path. */
export function writeResults(name: string, data: unknown, indent = 2): string {
  const file = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, indent)}\n`);
  return file;
}
