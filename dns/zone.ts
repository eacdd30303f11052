/**
 * What a network's DNS server knows and how a question name maps onto it (pure).
 *
 * The domain of network N is `N.vxmesh.` (`vxmesh` is not a real top-level domain, so no network can
 * shadow a real one). Answered, for the endpoints of N only (never another network's — isolation holds
 * for names too):
 *   - `NAME.N.vxmesh` — the endpoint's name or alias; an unknown name there is NXDOMAIN;
 *   - `NAME` — a single label: the name or alias, else NXDOMAIN (a single label is never sent upstream);
 *   - `NAME.N` — answered when NAME is known in N, otherwise the question goes upstream like any
 *     other name (so a network called `com` cannot hide `example.com`).
 * Networks connected to N (routing and policy between networks) are answered too, from their own
 * endpoints: `NAME.M.vxmesh` and `NAME.M` for a connected network M — not a network N is not connected
 * to (its domain stays NXDOMAIN, as before).
 * Special-use names (RFC 6761, 7686) are answered here, never forwarded: `localhost` and `*.localhost`
 * with the loopback addresses, `*.invalid` and `*.onion` NXDOMAIN (a lookup of them is quick also when
 * the upstream is unreachable).
 * Every other name is forwarded to the upstream resolver — except on an internal network, whose
 * server answers its own names and nothing else (REFUSED): a container there must not move data out
 * through questions for outside names (the class of Docker's CVE-2024-29018).
 */
export const DNS_SUFFIX = 'vxmesh';

export interface DnsZone {
  network: string;
  /** Lower-case label → the addresses answering it (an endpoint's name, or an alias, possibly shared). */
  names: ReadonlyMap<string, readonly string[]>;
  /** An internal network: nothing is forwarded upstream. */
  internal?: boolean;
  /** The zones of the networks connected to this one (lower-case network name → names). */
  connected?: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
}

export type Lookup =
  /** The name is ours: these addresses (may be empty: the name exists but has no A record of this type). */
  | { kind: 'answer'; addresses: readonly string[] }
  /** Under our domain (or a single label) and unknown. */
  | { kind: 'nxdomain' }
  /** Not ours: ask upstream. */
  | { kind: 'forward' }
  /** Not ours, and the network is internal: not asked anywhere. */
  | { kind: 'refused' };

/** The network's own domain, without the trailing dot. */
export const networkDomain = (network: string): string => `${network.toLowerCase()}.${DNS_SUFFIX}`;

export function lookup(zone: DnsZone, questionName: string): Lookup {
  const found = lookupName(zone, questionName);
  return found.kind === 'forward' && zone.internal ? { kind: 'refused' } : found;
}

/** The loopback addresses answering `localhost` names (RFC 6761 6.3). */
export const LOOPBACK_ADDRESSES: readonly string[] = ['127.0.0.1', '::1'];
const NXDOMAIN_DOMAINS = ['invalid', 'onion'];

const within = (q: string, domain: string) => q === domain || q.endsWith(`.${domain}`);

function lookupName(zone: DnsZone, questionName: string): Lookup {
  const q = questionName.toLowerCase().replace(/\.$/, '');
  if (q === '') return { kind: 'forward' };
  if (within(q, 'localhost')) return { kind: 'answer', addresses: LOOPBACK_ADDRESSES };
  if (NXDOMAIN_DOMAINS.some((d) => within(q, d))) return { kind: 'nxdomain' };
  const domain = networkDomain(zone.network);
  const found = (label: string): Lookup | undefined => {
    const a = zone.names.get(label);
    return a ? { kind: 'answer', addresses: a } : undefined;
  };
  if (q === domain || q === DNS_SUFFIX) return { kind: 'answer', addresses: [] };
  if (q.endsWith(`.${domain}`)) {
    const label = q.slice(0, -domain.length - 1);
    return (!label.includes('.') && found(label)) || { kind: 'nxdomain' };
  }
  // Another network's domain: answered when it is connected, else not (and not sent upstream: it is ours).
  if (q.endsWith(`.${DNS_SUFFIX}`)) {
    const labels = q.slice(0, -DNS_SUFFIX.length - 1).split('.');
    if (labels.length === 1 && zone.connected?.has(labels[0] as string)) return { kind: 'answer', addresses: [] };
    const a = labels.length === 2 ? zone.connected?.get(labels[1] as string)?.get(labels[0] as string) : undefined;
    return a ? { kind: 'answer', addresses: a } : { kind: 'nxdomain' };
  }
  if (!q.includes('.')) return found(q) ?? { kind: 'nxdomain' };
  const net = zone.network.toLowerCase();
  if (q.endsWith(`.${net}`)) {
    const label = q.slice(0, -net.length - 1);
    if (!label.includes('.')) return found(label) ?? { kind: 'forward' };
  }
  // NAME.M for a connected network M: its name, or upstream like any other name.
  const dot = q.indexOf('.');
  if (dot > 0 && q.indexOf('.', dot + 1) < 0) {
    const a = zone.connected?.get(q.slice(dot + 1))?.get(q.slice(0, dot));
    if (a) return { kind: 'answer', addresses: a };
  }
  return { kind: 'forward' };
}
