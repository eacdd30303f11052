#!/usr/bin/env node
/**
 * The `vxmesh` executable: checks the Node.js version before anything else is loaded (a dependency of
 * an older Node would fail with a stack trace at import), then runs the command line (cli.ts).
 */
import { nodeTooOld } from '../core/node-version.js';

const tooOld = nodeTooOld(process.versions.node);
if (tooOld) {
  console.error(tooOld);
  process.exitCode = 1;
} else {
  const { main } = await import('./cli.js');
  process.exitCode = await main(process.argv.slice(2));
}
