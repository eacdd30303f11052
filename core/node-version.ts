/**
 * The Node.js versions vxmesh runs on: 20.19 and newer (`@noble/ciphers` needs 20.19; Debian 12's own
 * nodejs is 18.20, Debian 13's is 20.19). Checked before anything else is loaded (cli/vxmesh.ts) and by
 * the npm scripts (scripts/ensure-deps.sh), so an older Node stops with this message, not a stack trace.
 */
export const MIN_NODE_VERSION = '20.19.0';

/** The message for a Node.js older than MIN_NODE_VERSION, or undefined when `version` (e.g. "20.20.2") is new enough. */
export function nodeTooOld(version: string): string | undefined {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const need = MIN_NODE_VERSION.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const h = have[i] ?? 0;
    const n = need[i] ?? 0;
    if (h > n) return undefined;
    if (h < n || Number.isNaN(h))
      return (
        `vxmesh needs Node.js ${MIN_NODE_VERSION} or newer; this is ${version}. ` +
        'Debian 13: apt-get install nodejs npm. Debian 12 (whose nodejs is 18): install Node.js 20 or 22 from ' +
        'NodeSource (https://github.com/nodesource/distributions) or the official binaries (https://nodejs.org).'
      );
  }
  return undefined;
}
