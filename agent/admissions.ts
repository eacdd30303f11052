/**
 * The admissions of one host (claims.ts), one per table version and context, each taken by a step
 * from the last one where it can (admission-step.ts), else from every record.
 */
import type { EndpointValue } from '../core/records.js';
import { AdmissionIndex } from './admission-step.js';
import {
  admitEndpoints,
  stageOne,
  type Admission,
  type ClaimInput,
  type EntryFactsMemo,
  type StageOneMemo,
} from './claims.js';
import type { TableEntry } from './ports.js';

/**
 * Admissions of one host, one per table version: the same endpoint list and context give the same
 * admission; a new list (one record changed) re-checks only records not seen under this context
 * (claims, members' VTEPs and names, the store read), and when the change is a few records with
 * nothing to decide between holders, only those (admission-step.ts). A flood of records nobody
 * admits then costs one check per new record, not one per record and change.
 */
export class Admissions {
  private context?: string;
  private memo: StageOneMemo = new WeakMap();
  private readonly facts: EntryFactsMemo = new WeakMap();
  private last?: { endpoints: Array<TableEntry<EndpointValue>>; context: string; result: Admission };
  /** The last admission's index, for the next step (undefined: built at the next step). */
  private index?: AdmissionIndex;
  private serials = 0;
  /** Admissions taken by a step, and in full (for tests and diagnostics). */
  readonly counts = { stepped: 0, full: 0 };

  admit(
    endpoints: Array<TableEntry<EndpointValue>>,
    context: string,
    rest: () => Omit<ClaimInput, 'endpoints' | 'memo' | 'facts'>,
  ): Admission {
    const last = this.last;
    if (last?.endpoints === endpoints && last.context === context) return last.result;
    if (context !== this.context) {
      this.context = context;
      this.memo = new WeakMap();
      this.index = undefined;
    }
    const serial = ++this.serials;
    let result: Admission | undefined;
    if (last?.context === context) {
      this.index ??= AdmissionIndex.of(last.endpoints, last.result, this.facts);
      const firstStage = stageOne({ ...rest(), memo: this.memo });
      result = this.index.step(last.endpoints, endpoints, last.result, last.result.serial ?? 0, firstStage, this.facts);
      if (result) this.counts.stepped++;
      else this.index = undefined;
    }
    if (!result) {
      this.counts.full++;
      result = admitEndpoints({ ...rest(), endpoints, memo: this.memo, facts: this.facts });
    }
    result.serial = serial;
    this.last = { endpoints, context, result };
    return result;
  }
}
