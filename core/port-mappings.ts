/**
 * Published ports of an endpoint (`--publish HOSTPORT:PORT[/tcp|udp]`): host port HOSTPORT on this
 * host reaches the endpoint's PORT. One parser for the CLI, the admin API and the agent's state file.
 */
import { ValidationError } from './errors.js';

export type PortProtocol = 'tcp' | 'udp';

export interface PortMapping {
  protocol: PortProtocol;
  hostPort: number;
  port: number;
}

const port = (text: string, field: string, what: string): number => {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535)
    throw new ValidationError(field, `${what} must be a port number 1..65535, got ${JSON.stringify(text)}`);
  return Number(text);
};

/** `8080:80`, `8080:80/tcp`, `5353:53/udp`, or the object form `{protocol, hostPort, port}`. */
export function parsePortMapping(v: unknown, field = 'publish'): PortMapping {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    return parsePortMapping(`${String(o.hostPort)}:${String(o.port)}/${String(o.protocol ?? 'tcp')}`, field);
  }
  if (typeof v !== 'string') throw new ValidationError(field, 'must be HOSTPORT:PORT[/tcp|udp]');
  const m = /^([^:/]+):([^:/]+)(?:\/(.*))?$/.exec(v);
  if (!m) throw new ValidationError(field, `${JSON.stringify(v)} is not HOSTPORT:PORT[/tcp|udp]`);
  const protocol = (m[3] ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp')
    throw new ValidationError(field, `protocol must be tcp or udp, got ${JSON.stringify(m[3])}`);
  return {
    protocol,
    hostPort: port(m[1] as string, field, 'the host port'),
    port: port(m[2] as string, field, 'the endpoint port'),
  };
}

/** A list of mappings; the same host port and protocol twice is refused. */
export function parsePortMappings(v: unknown, field = 'publish'): PortMapping[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (list.length > 64) throw new ValidationError(field, 'at most 64 published ports per endpoint');
  const out = list.map((x, i) => parsePortMapping(x, `${field}[${i}]`));
  const seen = new Set<string>();
  for (const p of out) {
    const k = portKey(p);
    if (seen.has(k)) throw new ValidationError(field, `host port ${k} is given twice`);
    seen.add(k);
  }
  return out;
}

export const portKey = (p: PortMapping): string => `${p.hostPort}/${p.protocol}`;

export const formatPortMapping = (p: PortMapping): string => `${p.hostPort}:${p.port}/${p.protocol}`;
