/**
 * Applying a reconcile plan to a VXLAN device: withdraw first (ARP answers, then forwarding), then
 * program (replace never needs a delete), all in one bulk of netlink writes; each failed write is
 * reported, the others still apply.
 */
import type { NeighOp, Rtnl } from './netlink/rtnl.js';
import type { ReconcilePlan } from './reconcile-plan.js';
import type { ReconcileResult } from './types.js';

type Counter = 'fdbReplaced' | 'fdbDeleted' | 'masterDeleted' | 'neighReplaced' | 'neighDeleted';

export async function applyPlan(
  rtnl: Rtnl,
  vx: { index: number; name: string },
  netns: string,
  plan: ReconcilePlan,
  result: ReconcileResult,
): Promise<ReconcileResult> {
  const ops: Array<{ counter: Counter; object: string; op: NeighOp }> = [];
  for (const ip of plan.neighDelete)
    ops.push({ counter: 'neighDeleted', object: `neighbour ${ip}`, op: { op: 'neigh-delete', ip } });
  for (const d of plan.fdbDelete)
    ops.push({
      counter: 'fdbDeleted',
      object: `fdb ${d.mac}${d.dst ? ` dst ${d.dst}` : ''}`,
      op: { op: 'fdb-delete', mac: d.mac, dst: d.dst },
    });
  for (const mac of plan.masterDelete)
    ops.push({ counter: 'masterDeleted', object: `fdb ${mac} master`, op: { op: 'fdb-delete', mac, master: true } });
  for (const f of plan.fdbReplace)
    ops.push({
      counter: 'fdbReplaced',
      object: `fdb ${f.mac} dst ${f.dst}`,
      op: { op: 'fdb-replace', mac: f.mac, dst: f.dst },
    });
  for (const n of plan.neighReplace)
    ops.push({
      counter: 'neighReplaced',
      object: `neighbour ${n.ip} lladdr ${n.mac}`,
      op: { op: 'neigh-replace', ip: n.ip, mac: n.mac },
    });
  const errnos = await rtnl.applyNeighbours(
    vx.index,
    ops.map((x) => x.op),
  );
  errnos.forEach((errno, i) => {
    const { counter, object } = ops[i] as (typeof ops)[number];
    // Deleting what is already gone is success: the goal state holds.
    if (errno === undefined || (errno === 'ENOENT' && counter.endsWith('Deleted'))) {
      if (errno === undefined) {
        result[counter]++;
        result.changes++;
      }
      return;
    }
    const where = `${object} on ${vx.name} in ${netns}`;
    result.errors.push({ object: where, errno, message: `${where}: ${errno}` });
  });
  return result;
}
