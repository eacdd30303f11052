/** This build's version: package.json's, read once (two directories up from the compiled file, as in the package). */
import fs from 'node:fs';

let cached: string | undefined;

export function vxmeshVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
