/**
 * Reconcile by difference: between two desired sets of one overlay (what the last clean reconcile
 * wrote and the new one), the writes that take the kernel from the first to the second. Nothing is
 * read from the kernel, so an update costs its own writes whatever the network's size; drift is the
 * full reconcile's (reconcile-plan.ts: at kernel notifications and the periodic run).
 */
import { ValidationError } from '../core/errors.js';
import type { ReconcilePlan, RemoteEndpoint } from './reconcile-plan.js';

export interface RemotesDelta {
  /** Entries new or changed (VTEP or address): written with replace semantics. */
  upsert: RemoteEndpoint[];
  /** Each of them's index in `after` (errors name it). */
  upsertAt: number[];
  /** MACs no longer wanted (their fdb entries go). */
  removeMacs: string[];
  /** Addresses no longer wanted by any entry (their neighbour entries go). */
  removeIps: string[];
}

const addressesOf = (e: RemoteEndpoint): string[] =>
  e.ip === undefined ? (e.ip6 === undefined ? [] : [e.ip6]) : e.ip6 === undefined ? [e.ip] : [e.ip, e.ip6];

/**
 * The difference from `before` to `after`. `after` is checked for what the full reconcile refuses in a
 * whole set (a MAC twice with different data, an address held by two MACs), naming the entry; the
 * format of each new or changed entry is the caller's to check (validateRemotes), the rest was checked
 * when it was written.
 */
export function diffRemotes(before: RemoteEndpoint[], after: RemoteEndpoint[]): RemotesDelta {
  if (!Array.isArray(after)) throw new ValidationError('endpoints', 'must be an array');
  const was = new Map<string, RemoteEndpoint>();
  for (const e of before) was.set(e.mac, e);
  const now = new Map<string, RemoteEndpoint>();
  const ipHolder = new Map<string, string>();
  const upsert: RemoteEndpoint[] = [];
  const upsertAt: number[] = [];
  after.forEach((e, i) => {
    if (e === null || typeof e !== 'object') throw new ValidationError(`endpoints[${i}]`, 'must be an object');
    const prior = now.get(e.mac);
    if (prior && (prior.ip !== e.ip || prior.ip6 !== e.ip6 || prior.vtep !== e.vtep))
      throw new ValidationError(`endpoints[${i}].mac`, `${e.mac} appears twice with different data`);
    for (const ip of addressesOf(e)) {
      const holder = ipHolder.get(ip);
      if (holder !== undefined && holder !== e.mac)
        throw new ValidationError(
          `endpoints[${i}].${ip.includes(':') ? 'ip6' : 'ip'}`,
          `${ip} is claimed by both ${holder} and ${e.mac}`,
        );
      ipHolder.set(ip, e.mac);
    }
    if (prior) return;
    now.set(e.mac, e);
    const old = was.get(e.mac);
    if (!old || old.vtep !== e.vtep || old.ip !== e.ip || old.ip6 !== e.ip6) {
      upsert.push(e);
      upsertAt.push(i);
    }
  });
  const removeMacs: string[] = [];
  const removeIps: string[] = [];
  for (const [mac, e] of was) {
    if (!now.has(mac)) removeMacs.push(mac);
    for (const ip of addressesOf(e)) if (!ipHolder.has(ip)) removeIps.push(ip);
  }
  return { upsert, upsertAt, removeMacs, removeIps };
}

/** The writes of a difference (`upsert` already checked and of the device's family); deletions only if allowed. */
export function planDelta(
  delta: Pick<RemotesDelta, 'removeMacs' | 'removeIps'>,
  upsert: RemoteEndpoint[],
  allowDelete: boolean,
): ReconcilePlan {
  const plan: ReconcilePlan = { fdbReplace: [], fdbDelete: [], masterDelete: [], neighReplace: [], neighDelete: [] };
  for (const e of upsert) {
    plan.fdbReplace.push({ mac: e.mac, dst: e.vtep });
    for (const ip of addressesOf(e)) plan.neighReplace.push({ ip, mac: e.mac });
  }
  if (allowDelete) {
    for (const mac of delta.removeMacs) plan.fdbDelete.push({ mac });
    for (const ip of delta.removeIps) plan.neighDelete.push(ip);
  }
  return plan;
}
