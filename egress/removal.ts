/**
 * The packet-filter side of `vxmesh reset`: every `VXMESH-*` chain of the host namespace's filter and
 * nat tables, with the jumps to them (the plan of `sync.ts` with nothing wanted). Rules in overlay
 * namespaces go with the namespaces. Nothing else of the ruleset is touched.
 */
import { commandRunner, parseSave, type IptablesRunner } from './iptables.js';
import { planSync } from './sync.js';

/** Removes our chains (or, with `dryRun`, only lists them); returns one line per chain or jump. */
export async function removeHostChains(
  dryRun: boolean,
  runner: IptablesRunner = commandRunner,
  hostNetns?: string,
): Promise<string[]> {
  const plan = planSync(parseSave(await runner.save(hostNetns)), { chains: [], jumps: [] });
  if (plan.script && !dryRun) await runner.restore(plan.script, hostNetns);
  return plan.changes.map((c) => `iptables ${c}`);
}
