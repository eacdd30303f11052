/**
 * The import rules of the layers (.dependency-cruiser.cjs, checked by dependency-cruiser): the tree
 * has no violation, and the rules do fail on a forbidden import (a scratch tree with one).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../..');
const depcruise = path.join(root, 'node_modules/.bin/depcruise');
const config = path.join(root, '.dependency-cruiser.cjs');
export const LAYER_DIRS = [
  'core',
  'dataplane',
  'discovery',
  'ipam',
  'store',
  'egress',
  'dns',
  'agent',
  'api',
  'docker',
  'cni',
  'daemon',
  'cli',
  'sim',
  'scripts',
  'bench',
  'test',
];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function cruise(cwd: string, dirs: string[]): Promise<Violation[]> {
  const { stdout } = await run(depcruise, ['--config', config, '--output-type', 'json', ...dirs], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const result = JSON.parse(stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  return result.summary.violations;
}

t.test('the tree follows the layer rules', async (t) => {
  const violations = await cruise(
    root,
    LAYER_DIRS.filter((d) => fs.existsSync(path.join(root, d))),
  );
  t.same(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
    'no forbidden import',
  );
});

t.test('the rules fail on forbidden imports', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-layers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  write(
    'tsconfig.json',
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
  );
  write('core/a.ts', "import { b } from '../agent/b.js';\nexport const a = b;\n");
  write('agent/b.ts', 'export const b = 1;\n');
  write('dataplane/c.ts', "import { d } from '../discovery/d.js';\nexport const c = d;\n");
  write('discovery/d.ts', "import { a } from '../core/a.js';\nexport const d = a;\n");
  write('agent/e.ts', "import { f } from '../cli/f.js';\nexport const e = f;\n");
  write('cli/f.ts', "import { b } from '../agent/b.js';\nexport const f = b;\n");
  write('discovery/g.ts', "import { h } from '../test/h.js';\nexport const g = h;\n");
  write('test/h.ts', 'export const h = 1;\n');
  write('ipam/x.ts', "import { y } from './y.js';\nexport const x = () => y;\n");
  write('egress/r.ts', "import { c } from '../dataplane/c.js';\nexport const r = c;\n");
  write('ipam/y.ts', "import { x } from './x.js';\nexport const y = () => x;\n");
  const got = (await cruise(dir, ['core', 'agent', 'dataplane', 'discovery', 'cli', 'ipam', 'egress', 'test']))
    .map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)
    .sort();
  t.same(
    got,
    [
      'agent-imports-only-core-dataplane-discovery-ipam-store-egress-dns: agent/e.ts → cli/f.ts',
      'core-imports-only-nothing: core/a.ts → agent/b.ts',
      'dataplane-imports-only-core: dataplane/c.ts → discovery/d.ts',
      'egress-imports-only-core: egress/r.ts → dataplane/c.ts',
      'no-cycles: ipam/x.ts → ipam/y.ts',
      'product-never-imports-tests-or-tools: discovery/g.ts → test/h.ts',
    ],
    'each upward or sideways import is reported, with its rule',
  );
});
