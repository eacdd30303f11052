/**
 * Plans the change that makes a namespace's vxmesh chains equal a desired rule set (pure): chains
 * that differ are rewritten whole, missing jumps inserted first in their chain (or right after the
 * rule they follow), duplicate jumps, jumps to our chains from places no longer wanted (an earlier
 * version's) and chains of ours that are no longer wanted removed. The plan is one `iptables-restore --noflush`
 * script (applied atomically per table), or none when the kernel already matches.
 */
import type { NetfilterTable, RulesetDump } from './iptables.js';
import { CHAIN_PREFIX, type RuleSet } from './rules.js';

export interface SyncPlan {
  /** undefined: nothing to change. */
  script?: string;
  /** What changes, for logs: "nat VXMESH-PREROUTING rewritten (2 rules)", ... */
  changes: string[];
  /** Chains rewritten, with the rules written (to learn how iptables-save prints them back). */
  rewritten: Array<{ table: NetfilterTable; chain: string; rules: string[] }>;
}

const TABLES: NetfilterTable[] = ['filter', 'nat'];

/**
 * `canonical` maps a rule as vxmesh writes it to the form iptables-save printed it back, when they
 * differ (learned after a write), so an equal rule is never rewritten.
 */
export function planSync(
  current: RulesetDump,
  desired: RuleSet,
  canonical: ReadonlyMap<string, string> = new Map(),
): SyncPlan {
  const lines = new Map<NetfilterTable, string[]>(TABLES.map((t) => [t, []]));
  const add = (t: NetfilterTable, l: string) => lines.get(t)?.push(l);
  const changes: string[] = [];
  const rewritten: SyncPlan['rewritten'] = [];
  const wanted = new Set(desired.chains.map((c) => `${c.table} ${c.chain}`));

  for (const c of desired.chains) {
    const have = current.get(c.table)?.get(c.chain);
    const same =
      have !== undefined &&
      have.length === c.rules.length &&
      c.rules.every((r, i) => (canonical.get(r) ?? r) === have[i]);
    if (same) continue;
    add(c.table, `:${c.chain} - [0:0]`);
    add(c.table, `-F ${c.chain}`);
    for (const r of c.rules) add(c.table, `-A ${c.chain} ${r}`);
    changes.push(`${c.table} ${c.chain} ${have === undefined ? 'created' : 'rewritten'} (${c.rules.length} rules)`);
    rewritten.push({ table: c.table, chain: c.chain, rules: c.rules });
  }
  for (const j of desired.jumps) {
    const from = current.get(j.table)?.get(j.from);
    if (from === undefined && j.optional) continue;
    const n = (from ?? []).filter((r) => r === j.rule).length;
    if (n === 0) {
      const at = j.after === undefined ? -1 : (from ?? []).indexOf(j.after);
      add(j.table, `-I ${j.from} ${at + 2} ${j.rule}`);
      changes.push(`${j.table} ${j.from} jump inserted: ${j.rule}`);
    }
    for (let k = 1; k < n; k++) {
      add(j.table, `-D ${j.from} ${j.rule}`);
      changes.push(`${j.table} ${j.from} duplicate jump removed: ${j.rule}`);
    }
  }
  // Jumps to a wanted chain of ours from a chain that should not jump to it.
  for (const t of TABLES) {
    const table = current.get(t);
    if (!table) continue;
    for (const [from, rules] of table)
      for (const r of rules) {
        const target = /-j (\S+)$/.exec(r)?.[1];
        if (!target?.startsWith(CHAIN_PREFIX) || !wanted.has(`${t} ${target}`)) continue;
        if (desired.jumps.some((j) => j.table === t && j.from === from && j.rule === r)) continue;
        if (from.startsWith(CHAIN_PREFIX)) continue;
        add(t, `-D ${from} ${r}`);
        changes.push(`${t} ${from} jump removed: ${r}`);
      }
  }
  // Our chains that are not wanted any more: every jump to them, then the chain.
  for (const t of TABLES) {
    const table = current.get(t);
    if (!table) continue;
    for (const chain of table.keys()) {
      if (!chain.startsWith(CHAIN_PREFIX) || wanted.has(`${t} ${chain}`)) continue;
      for (const [from, rules] of table)
        for (const r of rules) if (r.endsWith(`-j ${chain}`)) add(t, `-D ${from} ${r}`);
      add(t, `-F ${chain}`);
      add(t, `-X ${chain}`);
      changes.push(`${t} ${chain} removed`);
    }
  }
  let script = '';
  for (const t of TABLES) {
    const l = lines.get(t) ?? [];
    if (l.length) script += `*${t}\n${l.join('\n')}\nCOMMIT\n`;
  }
  return { script: script || undefined, changes, rewritten };
}
