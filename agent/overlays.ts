/**
 * Which overlays this agent has ensured in the kernel, and which have an attach in progress (their
 * overlay must not be removed meanwhile, neither by a detach nor by a reconcile).
 */
import type { OverlayDriver } from './ports.js';

export interface OverlayNetwork {
  vni: number;
  subnet?: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  mtu?: number;
  internal?: boolean;
  encrypted?: boolean;
}

export class Overlays {
  private readonly ensured = new Set<number>();
  private readonly attaching = new Map<number, number>();
  /** Per VNI: how many times this agent has (re)built the overlay; a rebuilt overlay starts empty. */
  private readonly generations = new Map<number, number>();

  constructor(
    private readonly driver: Pick<OverlayDriver, 'ensureNetwork' | 'removeNetwork'>,
    /** Egress is on for this agent (networks that are not internal get a gateway link). */
    private readonly egress = false,
  ) {}

  /** Whether a network gets a gateway link on this host. */
  hasEgress(n: { internal?: boolean }): boolean {
    return this.egress && n.internal !== true;
  }

  async ensure(n: OverlayNetwork): Promise<void> {
    if (this.ensured.has(n.vni)) return;
    await this.driver.ensureNetwork({
      vni: n.vni,
      subnet: n.subnet,
      gateway: n.gateway,
      subnet6: n.subnet6,
      gateway6: n.gateway6,
      mtu: n.mtu,
      egress: this.hasEgress(n),
      encrypted: n.encrypted === true,
    });
    this.ensured.add(n.vni);
    this.generations.set(n.vni, this.generation(n.vni) + 1);
  }

  /** Changes whenever the overlay is ensured anew (after a removal, a forget, a deleted link). */
  generation(vni: number): number {
    return this.generations.get(vni) ?? 0;
  }

  /** Removes the overlay (if this agent ensured it). */
  async remove(vni: number): Promise<void> {
    if (!this.ensured.has(vni)) return;
    await this.driver.removeNetwork(vni);
    this.ensured.delete(vni);
  }

  /** Removes the overlay unless an attach to it is in progress. */
  async removeUnlessAttaching(vni: number): Promise<void> {
    if (this.attaching.has(vni)) return;
    await this.driver.removeNetwork(vni);
    this.ensured.delete(vni);
  }

  forget(vnis: number[]): void {
    for (const v of vnis) this.ensured.delete(v);
  }

  beginAttach(vni: number): void {
    this.attaching.set(vni, (this.attaching.get(vni) ?? 0) + 1);
  }

  endAttach(vni: number): void {
    const k = (this.attaching.get(vni) ?? 1) - 1;
    if (k <= 0) this.attaching.delete(vni);
    else this.attaching.set(vni, k);
  }

  attachingVnis(): number[] {
    return [...this.attaching.keys()];
  }
}
