#!/usr/bin/env node
// Runs tap with the arguments given, passes its TAP output through unchanged, and appends a summary of
// every failed assertion (the file, the subtest path, the assertion and its first diagnostic lines) as TAP
// comments: a long log cut to its tail still names what failed. Exits with tap's exit code.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const DIAGNOSTIC_LINES = 16;
/** Sections of tap's YAML diagnostics left out of the summary (long, or said by `at`). */
const SKIPPED = new Set(['stack', 'source', 'at', 'compare']);
const child = spawn('tap', process.argv.slice(2), { stdio: ['inherit', 'pipe', 'inherit'] });
/** The names of the open subtests, by depth (4 spaces of indentation a level). */
const path = [];
/** Every failed test point: `key` is its subtest path joined with its own name. */
const failures = [];
let diagnostic;
createInterface({ input: child.stdout }).on('line', (line) => {
  process.stdout.write(`${line}\n`);
  const depth = Math.floor((line.length - line.trimStart().length) / 4);
  const text = line.trim();
  if (diagnostic !== undefined) {
    if (text === '...') diagnostic = undefined;
    else if (text !== '---') {
      const section = /^\s{2}(\w+):/.exec(line.slice(diagnostic.indent));
      if (section) diagnostic.section = section[1];
      const at = /^(fileName|lineNumber): (.*)$/.exec(text);
      if (at) diagnostic.at.push(at[2]);
      else if (!SKIPPED.has(diagnostic.section) && diagnostic.lines.length < DIAGNOSTIC_LINES)
        diagnostic.lines.push(text);
    }
  }
  const subtest = /^# Subtest: (.*)$/.exec(text);
  if (subtest) {
    path.length = depth;
    path[depth] = subtest[1];
    return;
  }
  const failed = /^not ok \d+ - (.*?)(?: # time=.*)?$/.exec(text);
  if (failed) {
    diagnostic = { indent: depth * 4, section: '', at: [], lines: [] };
    failures.push({ key: [...path.slice(0, depth), failed[1]].join(' > '), diagnostic });
  }
});
child.on('close', (code, signal) => {
  // A failed subtest repeats its children's failures: report only the leaves (the assertions).
  const leaves = failures.filter((f) => !failures.some((g) => g.key.startsWith(`${f.key} > `)));
  if (leaves.length > 0) {
    process.stdout.write(`# ${leaves.length} failed:\n`);
    for (const f of leaves) {
      const at = f.diagnostic.at.length > 0 ? ` (${f.diagnostic.at.join(':')})` : '';
      process.stdout.write(`#   ${f.key}${at}\n`);
      for (const l of f.diagnostic.lines) process.stdout.write(`#       ${l}\n`);
    }
  }
  process.exit(code ?? (signal ? 1 : 0));
});
