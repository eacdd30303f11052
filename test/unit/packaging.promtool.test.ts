/**
 * The alert rules in packaging/ with Prometheus's own checker (Debian package `prometheus`, installed by
 * `npm test`): they parse, and `promtool test rules` shows each alert firing on the series that should
 * fire it (test/fixtures/prometheus-alerts.test.yml) — and a broken copy is refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const RULES = path.join(ROOT, 'packaging/prometheus-alerts.yml');
const present = await $`promtool --version`.nothrow().quiet();
if (present.exitCode !== 0) throw new Error('promtool is missing: install the Debian package prometheus');

t.test('promtool check rules', async (t) => {
  const r = await $`promtool check rules ${RULES}`.nothrow().quiet();
  t.equal(r.exitCode, 0, r.stdout + r.stderr);
  t.match(r.stdout, /SUCCESS: \d+ rules found/);
});

t.test('promtool test rules: the alerts fire where they should', async (t) => {
  const r = await $({ cwd: path.join(ROOT, 'test/fixtures') })`promtool test rules prometheus-alerts.test.yml`
    .nothrow()
    .quiet();
  t.equal(r.exitCode, 0, r.stdout + r.stderr);
});

t.test('a broken rule is refused (the check can fail)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'rules.yml');
  fs.writeFileSync(broken, fs.readFileSync(RULES, 'utf8').replace('> 0', '> > 0'));
  const r = await $`promtool check rules ${broken}`.nothrow().quiet();
  t.not(r.exitCode, 0, 'promtool refuses it');
});
