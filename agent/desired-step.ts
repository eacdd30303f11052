/**
 * The desired state (desired.ts) after an admission step (admission-step.ts), taken from the last
 * desired state instead of from every admitted record: the entries of records no longer admitted
 * leave their network's list, those newly admitted enter it at their place in desired order. Valid
 * only when nothing else the desired state depends on changed (members, tunnels, encrypted networks,
 * local endpoints: the caller's key) and the records stepped share no MAC or address with another
 * record (what an admission step guarantees); a record that meets a local endpoint, or whose entry is
 * not where it should be, returns undefined and the caller computes everything. Lists are copied
 * before a change (the reconcile loop keeps the last one it wrote). Equal to desiredRemotes' result
 * (property test).
 */
import { endpointAddresses, type EndpointValue } from '../core/records.js';
import type { RemoteEndpoint } from '../dataplane/reconcile-plan.js';
import type { AdmissionStep } from './claims.js';
import { desiredOrder, remoteVtep, type DesiredInput, type DesiredState, type RemoteMemo } from './desired.js';
import type { TableEntry } from './ports.js';

export function stepDesired(
  prev: DesiredState,
  step: Pick<AdmissionStep, 'removed' | 'added'>,
  input: Omit<DesiredInput, 'endpoints'>,
  memo: RemoteMemo,
): DesiredState | undefined {
  const byNetwork = new Map(prev.byNetwork);
  const copied = new Set<string>();
  const listOf = (network: string): RemoteEndpoint[] => {
    let list = byNetwork.get(network);
    if (list === undefined || !copied.has(network)) {
      copied.add(network);
      list = [...(list ?? [])];
      byNetwork.set(network, list);
    }
    return list;
  };
  for (const x of step.removed) {
    const vtep = remoteVtep(input, x);
    if (vtep === undefined) continue;
    const list = listOf(x.value.network);
    const at = list.indexOf(memo.of(x, vtep).remote);
    if (at < 0) return undefined; // left out (a local endpoint has its MAC or address): computed in full
    list.splice(at, 1);
  }
  for (const y of step.added) {
    const vtep = remoteVtep(input, y);
    if (vtep === undefined) continue;
    if (meetsLocal(y, input.local)) return undefined;
    const list = listOf(y.value.network);
    const at = placeOf(list, y, memo);
    if (at === undefined) return undefined;
    list.splice(at, 0, memo.of(y, vtep).remote);
  }
  // A network left without entries goes, as desiredRemotes leaves it out (unless it has conflicts).
  for (const network of copied)
    if (byNetwork.get(network)?.length === 0 && !prev.conflicts.some((c) => c.network === network))
      byNetwork.delete(network);
  return { byNetwork, conflicts: prev.conflicts };
}

function meetsLocal(y: TableEntry<EndpointValue>, local: DesiredInput['local']): boolean {
  const addresses = endpointAddresses(y.value);
  return local.some(
    (e) =>
      e.network === y.value.network &&
      (e.mac === y.value.mac || endpointAddresses(e).some((a) => addresses.includes(a))),
  );
}

/** Where `y` goes in a list in desired order (after the entries before it); undefined if an entry's record is unknown. */
function placeOf(list: RemoteEndpoint[], y: TableEntry<EndpointValue>, memo: RemoteMemo): number | undefined {
  let lo = 0;
  let hi = list.length;
  // Most often the latest write: after the last entry.
  const last = list.at(-1);
  if (last !== undefined) {
    const e = memo.entryOf(last);
    if (e === undefined) return undefined;
    if (desiredOrder(e, y) <= 0) return list.length;
  }
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const e = memo.entryOf(list[mid] as RemoteEndpoint);
    if (e === undefined) return undefined;
    if (desiredOrder(e, y) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
