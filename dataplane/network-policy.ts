/**
 * Routing and policy of one overlay: its links to the overlays of connected networks on this host
 * (network-link.ts) and its policy filter (policy-filter.ts), made what is wanted. A reconciler: links
 * kept when right, repaired or removed when not; the filter written only when the wanted one differs
 * from what was last written or from what the kernel holds (`verify`: read the kernel's table back —
 * the periodic safety net; changes of the wanted filter need no read).
 */
import { ensureNetworkLink, networkLinksOf, removeNetworkLink } from './network-link.js';
import type { Overlay } from './overlay.js';
import { applyPolicyFilter, readPolicyFilter, renderPolicyFilter } from './policy-filter.js';
import type { NetworkPolicyState, WrittenFilter } from './types.js';

export async function applyNetworkPolicy(
  o: Overlay,
  overlayOf: (vni: number) => Overlay | undefined,
  want: NetworkPolicyState,
  written: WrittenFilter | undefined,
  /** `dryRun`: change nothing, count what would change (`vxmesh fdb --check`). */
  opts: { netnsPath: string; verify: boolean; dryRun?: boolean },
): Promise<{ changes: number; written: WrittenFilter }> {
  let changes = 0;
  const wanted = new Set(want.links);
  const held = await networkLinksOf(o);
  for (const vni of held) if (!wanted.has(vni) && (opts.dryRun || (await removeNetworkLink(o, vni)))) changes++;
  for (const vni of want.links) {
    const peer = overlayOf(vni);
    if (peer && opts.dryRun && !held.includes(vni)) changes++;
    else if (peer && !opts.dryRun) await ensureNetworkLink(o, peer);
  }
  const rendered = want.filter ? renderPolicyFilter(want.filter) : undefined;
  const current = opts.verify || !written ? await readPolicyFilter(opts.netnsPath) : written.listing;
  const same = written !== undefined && written.rendered === rendered && written.listing === current;
  if (same) return { changes, written };
  if (rendered === undefined && current === undefined) return { changes, written: { rendered, listing: undefined } };
  // Never written by this process (after a restart): compared with the kernel as it is.
  if (opts.dryRun)
    return {
      changes: changes + (written === undefined && rendered !== undefined && current !== undefined ? 0 : 1),
      written: written ?? { rendered, listing: current },
    };
  await applyPolicyFilter(opts.netnsPath, want.filter);
  return { changes: changes + 1, written: { rendered, listing: await readPolicyFilter(opts.netnsPath) } };
}
