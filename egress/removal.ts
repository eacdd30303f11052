/**
 * The packet-filter side of `vxmesh reset`: every `VXMESH-*` chain of the host namespace's filter and
 * nat tables (iptables and ip6tables), with the jumps to them (the plan of `sync.ts` with nothing wanted). Rules in overlay
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
  const out = plan.changes.map((c) => `iptables ${c}`);
  // The VXLAN guard of an IPv6 underlay lives in ip6tables; a host without ip6tables has none there.
  let saved6: string;
  try {
    saved6 = await runner.save(hostNetns, 6);
  } catch {
    return out;
  }
  const plan6 = planSync(parseSave(saved6), { chains: [], jumps: [] });
  if (plan6.script && !dryRun) await runner.restore(plan6.script, hostNetns, 6);
  return [...out, ...plan6.changes.map((c) => `ip6tables ${c}`)];
}
