/**
 * Giving addresses back. If the allocator cannot be reached (the store is down) the address is kept
 * in the state directory and retried with every periodic tick, so no address stays allocated forever.
 */
import type { Logger } from '../core/logger.js';
import type { AddressAllocator } from './ports.js';
import type { LocalState } from './local-state.js';

export class AddressReturns {
  private returning = false;

  constructor(
    private readonly allocator: Pick<AddressAllocator, 'returnAddress'>,
    private readonly state: LocalState,
    private readonly log: Logger,
  ) {}

  get pending(): number {
    return this.state.addressesToReturn.length;
  }

  /** Never throws: an address that cannot be given back now is queued. */
  async giveBack(network: string, ip: string): Promise<void> {
    try {
      await this.allocator.returnAddress(network, ip);
    } catch (e) {
      const queue = this.state.addressesToReturn;
      if (!queue.some((a) => a.network === network && a.ip === ip)) queue.push({ network, ip });
      this.state.save();
      this.log.warn({ network, ip, err: (e as Error).message }, 'could not give the address back yet: will retry');
    }
  }

  /** One pass over the queue; one pass at a time. */
  async retry(): Promise<void> {
    if (this.state.addressesToReturn.length === 0 || this.returning) return;
    this.returning = true;
    try {
      const todo = [...this.state.addressesToReturn];
      const left: typeof todo = [];
      for (const a of todo) {
        // Re-used meanwhile by a local endpoint (an explicit --ip): not ours to give back any more.
        if (this.state.endpoints.some((e) => e.network === a.network && e.ip === a.ip)) continue;
        try {
          await this.allocator.returnAddress(a.network, a.ip);
        } catch {
          left.push(a);
        }
      }
      // Keep what failed again, and what was queued while this ran.
      this.state.addressesToReturn = [...left, ...this.state.addressesToReturn.filter((a) => !todo.includes(a))];
      this.state.save();
      if (left.length < todo.length)
        this.log.info({ returned: todo.length - left.length, left: left.length }, 'gave addresses back');
    } finally {
      this.returning = false;
    }
  }
}
