/**
 * Our own records as the last life of this host left them (the table snapshot). The agent writes
 * its records again after a restart; one whose content is unchanged is taken back as it was — same
 * Lamport time, same signatures — instead of a new version. Its version is its rank: the claim rule
 * (smaller Lamport time wins a contested block or address) and the MAC rule must not change their
 * answer because the winner's agent restarted. Other hosts already hold that exact version, so the
 * restart changes nothing anywhere. Each is taken at most once, by the first write of its key.
 */
import type { RecordKind, RecordValue } from '../core/records.js';
import { encodeBody } from './record-codec.js';
import type { WireRecord } from './wire.js';

const idOf = (kind: RecordKind, key: string) => `${kind}\u0000${key}`;

export class PreviousLife {
  private readonly records = new Map<string, WireRecord>();

  /** Our own owner-bound records from the snapshot (live ones with a format-2 body only). */
  load(records: WireRecord[]): void {
    for (const r of records)
      if (!r.deleted && r.b2 !== undefined && r.s2 !== undefined) this.records.set(idOf(r.kind, r.key), r);
  }

  /** The last life's record of this key if `value` is exactly what it held (its body byte for byte). */
  take(kind: RecordKind, key: string, value: RecordValue | null): WireRecord | undefined {
    const id = idOf(kind, key);
    const r = this.records.get(id);
    if (!r) return undefined;
    this.records.delete(id);
    if (value === null || r.b2 === undefined) return undefined;
    const body = encodeBody({ kind, key, lamport: r.lamport, value });
    return Buffer.from(body).equals(r.b2) ? r : undefined;
  }

  get size(): number {
    return this.records.size;
  }
}
