/**
 * The wire format between the agent and its DNS keeper (the process that holds the DNS servers'
 * sockets and answers through agent restarts, keeper-server.ts): one JSON object per line over a unix
 * socket in the agent's state directory (mode 0600). Every message the keeper reads is decoded here
 * once (a field that is not right is named, and nothing of that message is applied).
 *
 * Requests: `hello` (answered with the keeper's PID, protocol generation and settings: the agent
 * replaces a keeper of another generation or with other settings), `ensure` (exactly these networks,
 * with their zones), `counters`, `exit`. Replies: `{id, ok: true, ...}` or `{id, ok: false, error, field?}`.
 */
import { isIP } from 'node:net';
import { ValidationError } from '../core/errors.js';
import type { DnsCounters, DnsNetwork } from './dns-service.js';
import type { Upstream, UpstreamHealthSettings } from './forwarder.js';
import type { QueryLimitSettings } from './query-limits.js';
import type { DnsZone } from './zone.js';

/** Bumped when a message changes meaning: a keeper of another generation is replaced, not adopted. */
export const KEEPER_PROTOCOL = 1;
/** A line longer than this closes the connection (a zone of 100,000 names is ~5 MB). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** What a keeper is started with (a change of them replaces the keeper). */
export interface KeeperSettings {
  upstream?: Upstream;
  limits: QueryLimitSettings;
  upstreamHealth?: UpstreamHealthSettings;
  /** Default 53 (tests may use another). */
  port?: number;
}

export type KeeperRequest =
  | { op: 'hello'; id: number }
  | { op: 'ensure'; id: number; nets: DnsNetwork[] }
  | { op: 'counters'; id: number }
  | { op: 'exit'; id: number };

export type KeeperReply =
  | { id: number; ok: true; pid?: number; protocol?: number; settings?: KeeperSettings; counters?: DnsCounters }
  | { id: number; ok: false; error: string; field?: string };

type Names = Array<[string, string[]]>;
interface WireNetwork {
  vni: number;
  netns: string;
  addresses: string[];
  zone: { network: string; names: Names; internal?: boolean; connected?: Array<[string, Names]> };
}

const namesOut = (m: ReadonlyMap<string, readonly string[]>): Names => [...m].map(([k, v]) => [k, [...v]]);

/** A request as one line (the agent's side). */
export function encodeRequest(r: KeeperRequest): string {
  if (r.op !== 'ensure') return `${JSON.stringify(r)}\n`;
  const nets: WireNetwork[] = r.nets.map((n) => ({
    vni: n.vni,
    netns: n.netns,
    addresses: n.addresses,
    zone: {
      network: n.zone.network,
      names: namesOut(n.zone.names),
      ...(n.zone.internal ? { internal: true } : {}),
      ...(n.zone.connected ? { connected: [...n.zone.connected].map(([k, v]) => [k, namesOut(v)]) } : {}),
    },
  }));
  return `${JSON.stringify({ op: 'ensure', id: r.id, nets })}\n`;
}

const fail = (field: string, what: string): never => {
  throw new ValidationError(`${field}: ${what}`, field);
};
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown, field: string): string =>
  typeof x === 'string' && x.length > 0 ? x : fail(field, 'not a string');
const uint = (x: unknown, field: string, max: number): number =>
  Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max
    ? (x as number)
    : fail(field, `not an integer 0..${max}`);

function namesIn(x: unknown, field: string): Map<string, string[]> {
  if (!Array.isArray(x)) return fail(field, 'not a list');
  return new Map(
    x.map((e: unknown, i) => {
      if (!Array.isArray(e) || e.length !== 2 || !Array.isArray(e[1]))
        return fail(`${field}[${i}]`, 'not [label, [ip]]');
      const ips = (e[1] as unknown[]).map((ip, j) =>
        isIP(String(ip)) ? String(ip) : fail(`${field}[${i}][1][${j}]`, 'not an IP address'),
      );
      return [str(e[0], `${field}[${i}][0]`), ips] as [string, string[]];
    }),
  );
}

function networkIn(x: unknown, field: string): DnsNetwork {
  if (!isObject(x)) return fail(field, 'not an object');
  const z = isObject(x.zone) ? x.zone : fail(`${field}.zone`, 'not an object');
  const addresses = Array.isArray(x.addresses) ? x.addresses : fail(`${field}.addresses`, 'not a list');
  const zone: DnsZone = {
    network: str(z.network, `${field}.zone.network`),
    names: namesIn(z.names, `${field}.zone.names`),
  };
  if (z.internal === true) zone.internal = true;
  if (z.connected !== undefined) {
    if (!Array.isArray(z.connected)) return fail(`${field}.zone.connected`, 'not a list');
    zone.connected = new Map(
      z.connected.map((c: unknown, i) => {
        const f = `${field}.zone.connected[${i}]`;
        return Array.isArray(c) && c.length === 2
          ? [str(c[0], f), namesIn(c[1], `${f}[1]`)]
          : fail(f, 'not [network, names]');
      }),
    );
  }
  return {
    vni: uint(x.vni, `${field}.vni`, 0xffffff),
    netns: str(x.netns, `${field}.netns`),
    addresses: addresses.map((a: unknown, i) =>
      isIP(String(a)) ? String(a) : fail(`${field}.addresses[${i}]`, 'not an IP address'),
    ),
    zone,
  };
}

/** One line the keeper read → the request (throws ValidationError naming the field). */
export function decodeRequest(line: string): KeeperRequest {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch {
    return fail('body', 'not JSON');
  }
  if (!isObject(x)) return fail('body', 'not an object');
  const id = uint(x.id, 'id', Number.MAX_SAFE_INTEGER);
  switch (x.op) {
    case 'ensure':
      if (!Array.isArray(x.nets)) return fail('nets', 'not a list');
      return { op: 'ensure', id, nets: x.nets.map((n: unknown, i) => networkIn(n, `nets[${i}]`)) };
    case 'hello':
    case 'counters':
    case 'exit':
      return { op: x.op, id };
    default:
      return fail('op', `unknown: ${String(x.op)}`);
  }
}

/** The settings of a keeper compared as the agent would start it (key order ignored). */
export function sameSettings(a: KeeperSettings, b: KeeperSettings): boolean {
  const canonical = (x: unknown): unknown =>
    isObject(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, canonical(x[k])]),
        )
      : x;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
