/**
 * The admission (claims.ts) of a table that differs from the last admitted one by a few endpoint
 * records, taken from the last admission instead of from every record: the records removed, added
 * at the table's end or rewritten in place are found by walking the two lists by object identity, and
 * only records that share no address and no MAC with any other record past the first stage (nothing
 * to decide between two holders) are taken this way; anything else returns undefined and the caller
 * admits everything again. The result equals admitEndpoints' (property test), order included.
 * Admitting every record per change was the largest cost of an update at 20,000 endpoints.
 */
import type { EndpointValue } from '../core/records.js';
import { factsOf, type Admission, type EntryFactsMemo, type Refusal } from './claims.js';
import type { TableEntry } from './ports.js';

type Entry = TableEntry<EndpointValue>;

/** More changed records than this in one step: admitted in full. */
const MAX_STEP = 256;
/** How far ahead in the old list a record is looked for past removed ones. */
const LOOKAHEAD = 64;

/**
 * Of one admission: per address and MAC key, how many records passed the first stage; and how many
 * admitted records have a derived MAC (they come first). Moves to the next admission with each step;
 * dropped when a step gives up (it may be half updated).
 */
export class AdmissionIndex {
  private constructor(
    private readonly addresses: Map<string, number>,
    private readonly macs: Map<string, number>,
    private derivedAdmitted: number,
  ) {}

  static of(endpoints: Entry[], admission: Admission, facts: EntryFactsMemo): AdmissionIndex {
    const addresses = new Map<string, number>();
    const macs = new Map<string, number>();
    let derived = 0;
    for (const r of endpoints) {
      const reason = admission.refusalOf.get(r)?.reason;
      if (reason === 'vtep-not-owner' || reason === 'ip-not-claimed') continue;
      const f = factsOf(r, facts);
      for (const k of f.addressKeys) addresses.set(k, (addresses.get(k) ?? 0) + 1);
      macs.set(f.macKey, (macs.get(f.macKey) ?? 0) + 1);
      if (reason === undefined && f.derived) derived++;
    }
    return new AdmissionIndex(addresses, macs, derived);
  }

  /**
   * The admission of `endpoints` from `prev` (the admission of `before`, numbered `serial`), or
   * undefined (admit in full, and drop this index).
   */
  step(
    before: Entry[],
    endpoints: Entry[],
    prev: Admission,
    serial: number,
    firstStage: (r: Entry) => Refusal | null,
    facts: EntryFactsMemo,
  ): Admission | undefined {
    const changes = changedEntries(before, endpoints);
    if (!changes) return undefined;
    // Removed: refused at the first stage (nothing else depends on them), or admitted alone with its keys.
    const droppedRefusals = new Set<Refusal>();
    const removedAdmitted: Entry[] = [];
    for (const x of changes.removed) {
      const verdict = prev.refusalOf.get(x);
      if (verdict) {
        if (verdict.reason !== 'vtep-not-owner' && verdict.reason !== 'ip-not-claimed') return undefined;
        droppedRefusals.add(verdict);
        continue;
      }
      const f = factsOf(x, facts);
      if (this.macs.get(f.macKey) !== 1 || f.addressKeys.some((k) => this.addresses.get(k) !== 1)) return undefined;
      removedAdmitted.push(x);
    }
    let admitted = prev.admitted;
    const copy = () => (admitted === prev.admitted ? (admitted = [...admitted]) : admitted);
    const replacedAt = new Map<Entry, number>();
    for (const x of removedAdmitted) {
      const f = factsOf(x, facts);
      this.macs.delete(f.macKey);
      for (const k of f.addressKeys) this.addresses.delete(k);
      const at = admitted.indexOf(x);
      if (at < 0) return undefined;
      replacedAt.set(x, at);
    }
    // Added: refused at the first stage, or with keys nobody else has (then admitted).
    const newRefusals: Array<[Entry, Refusal]> = [];
    const added: Entry[] = [];
    const placed: Array<{ y: Entry; at: number | 'tail' }> = [];
    for (const { y, replaces } of changes.added) {
      const verdict = firstStage(y);
      if (verdict) {
        newRefusals.push([y, verdict]);
        continue;
      }
      const f = factsOf(y, facts);
      if (this.macs.has(f.macKey) || f.addressKeys.some((k) => this.addresses.has(k))) return undefined;
      this.macs.set(f.macKey, 1);
      for (const k of f.addressKeys) this.addresses.set(k, 1);
      added.push(y);
      if (replaces === undefined) {
        placed.push({ y, at: 'tail' });
        continue;
      }
      // Rewritten in place: its place in the admitted list is the old record's, if that was admitted alike.
      const at = replacedAt.get(replaces);
      if (at === undefined || factsOf(replaces, facts).derived !== f.derived) return undefined;
      replacedAt.delete(replaces);
      placed.push({ y, at });
    }
    for (const { y, at } of placed) if (at !== 'tail') copy()[at] = y;
    // Removed and not replaced: out of the list, back to front (indexes stay valid).
    const gone = [...replacedAt].sort((a, b) => b[1] - a[1]);
    for (const [x, at] of gone) {
      copy().splice(at, 1);
      if (factsOf(x, facts).derived) this.derivedAdmitted--;
    }
    for (const { y, at } of placed) {
      if (at !== 'tail') continue;
      if (factsOf(y, facts).derived) copy().splice(this.derivedAdmitted++, 0, y);
      else copy().push(y);
    }
    let { refused, refusalOf } = prev;
    if (droppedRefusals.size > 0 || newRefusals.length > 0) {
      refused = prev.refused.filter((v) => !droppedRefusals.has(v)).concat(newRefusals.map(([, v]) => v));
      const map = new Map(prev.refusalOf);
      for (const x of changes.removed) map.delete(x);
      for (const [y, v] of newRefusals) map.set(y, v);
      refusalOf = map;
    }
    return { admitted, refused, refusalOf, step: { from: serial, removed: removedAdmitted, added } };
  }
}

/**
 * The records removed from `before`, and those added to it (at the end, or in place of a removed
 * one), found by walking the two lists; undefined when the lists differ by more than a few records
 * or in a way the walk does not follow (records reordered, added in the middle).
 */
function changedEntries(
  before: Entry[],
  after: Entry[],
): { removed: Entry[]; added: Array<{ y: Entry; replaces?: Entry }> } | undefined {
  const removed: Entry[] = [];
  const added: Array<{ y: Entry; replaces?: Entry }> = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const x = before[i];
    const y = after[j];
    if (x !== undefined && x === y) {
      i++;
      j++;
      continue;
    }
    if (removed.length + added.length > MAX_STEP) return undefined;
    if (x === undefined) {
      added.push({ y: y as Entry });
      j++;
    } else if (y === undefined) {
      removed.push(x);
      i++;
    } else if (before[i + 1] === after[j + 1] || sameRecord(x, y)) {
      removed.push(x);
      added.push({ y, replaces: x });
      i++;
      j++;
    } else {
      const end = Math.min(before.length, i + LOOKAHEAD);
      let k = i + 1;
      while (k < end && before[k] !== y) k++;
      if (k >= end) return undefined;
      for (; i < k; i++) removed.push(before[i] as Entry);
    }
  }
  return { removed, added };
}

const sameRecord = (x: Entry, y: Entry) =>
  x.owner === y.owner && x.value.network === y.value.network && x.value.id === y.value.id;
