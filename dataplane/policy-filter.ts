/**
 * The policy filter of one overlay namespace: an nftables table `inet vxmesh` guarding the traffic that
 * arrives at this host's endpoints of the network, whether it was routed here from a connected network's
 * overlay on this host or bridged in from the VXLAN device (the kernel's bridge netfilter hands bridged
 * IPv4/IPv6 to the `forward` hook with connection tracking). Enforced where traffic arrives, so a
 * compromised source host cannot skip it:
 *   - replies of an allowed connection pass (conntrack);
 *   - traffic to addresses that are not this host's endpoints of the network passes (it is guarded
 *     where it arrives);
 *   - from the network's own subnets: allowed (within a network everything is, as before), unless the
 *     network is isolated (Docker's `icc=false`): then dropped, counted as "within";
 *   - from a source a rule allows (its prefix, optionally protocol and ports): allowed;
 *   - from a connected network's subnet otherwise: dropped, counted per source network;
 *   - from outside sources (published ports): allowed, unless the network has rules naming address
 *     prefixes: then only those.
 * Rules are set elements (`ipv4_addr . inet_proto . inet_service` with intervals): 1,000 rules cost one
 * lookup per packet, as 10 do. Written atomically (`nft -f`, one transaction): the table is replaced
 * whole, established connections keep their conntrack entries. Debian package `nftables`.
 *
 * Why the command line: nftables' netlink protocol (nf_tables over nfnetlink) is large and versioned
 * with the kernel; `nft -f` is its documented interface, atomic per file, and `nft -s list` reads it back.
 */
import { execFile, spawn } from 'node:child_process';
import { KernelError, VxmeshError } from '../core/errors.js';
import { parsePrefix } from '../core/prefix.js';
import type { PolicyFilterSpec } from './types.js';

export const POLICY_TABLE = 'vxmesh';

export class NftMissingError extends VxmeshError {
  override name = 'NftMissingError';
}

const nsArgs = (netnsPath: string, args: string[]): string[] => [`--net=${netnsPath}`, 'nft', ...args];

/** Runs `nft ARGS` in a namespace (`input` on stdin); rejects with nft's message. */
export function nft(netnsPath: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child =
      input === undefined
        ? execFile('nsenter', nsArgs(netnsPath, args), { maxBuffer: 16 * 1024 * 1024 }, done)
        : spawn('nsenter', nsArgs(netnsPath, args), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    function done(e: Error | null, stdout: string, stderr: string): void {
      if (!e) return resolve(stdout);
      if (/nft.*(ENOENT|No such file)|execvp/.test(`${stderr}${e.message}`))
        return reject(
          new NftMissingError('nft is not installed: policy between networks needs the Debian package nftables'),
        );
      reject(
        new KernelError('EINVAL', `nft ${args.join(' ')} in ${netnsPath}: ${stderr.trim() || e.message}`, 'apply'),
      );
    }
    if (input === undefined) return;
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => done(e, out, err));
    child.on('close', (code) => (code === 0 ? resolve(out) : done(new Error(`exit ${code}`), out, err)));
    child.stdin?.end(input);
  });
}

const byFamily = (prefixes: string[], family: 4 | 6) =>
  prefixes.filter((p) => (family === 6) === p.includes(':')).map((p) => parsePrefix(p, 'prefix', true).text);

/** A set (elements once each; a single-type interval set merges overlapping prefixes). */
const set = (name: string, type: string, elementsIn: string[], flags: string[] = []) => {
  const elements = [...new Set(elementsIn)];
  const merge = flags.includes('interval') && !type.includes('.') ? '    auto-merge\n' : '';
  return `  set ${name} {\n    type ${type}\n${flags.length ? `    flags ${flags.join(', ')}\n` : ''}${merge}${
    elements.length ? `    elements = { ${elements.join(', ')} }\n` : ''
  }  }`;
};

/** The ruleset text of the table (deterministic: the same spec gives the same text). */
export function renderPolicyFilter(spec: PolicyFilterSpec): string {
  const lines: string[] = [];
  const chain: string[] = [
    '    type filter hook forward priority 0; policy accept;',
    '    ct state established,related accept',
  ];
  for (const family of [4, 6] as const) {
    const [ip, addr] = family === 4 ? ['ip', 'ipv4_addr'] : ['ip6', 'ipv6_addr'];
    const local = [...new Set(spec.local.filter((a) => (family === 6) === a.includes(':')))].sort();
    const sfx = String(family);
    lines.push(set(`local${sfx}`, addr, local));
    lines.push(set(`own${sfx}`, addr, byFamily(spec.own, family), ['interval']));
    const connected = spec.connected.flatMap((c) => byFamily(c.subnets, family));
    lines.push(set(`connected${sfx}`, addr, connected, ['interval']));
    const any = spec.allow.filter((a) => !a.ports).flatMap((a) => byFamily([a.source], family));
    lines.push(set(`any${sfx}`, addr, any, ['interval']));
    const ports = spec.allow.flatMap((a) =>
      a.ports
        ? byFamily([a.source], family).flatMap((src) =>
            (a.ports ?? []).map(
              (p) => `${src} . ${p.protocol} . ${p.end === undefined ? p.port : `${p.port}-${p.end}`}`,
            ),
          )
        : [],
    );
    lines.push(set(`ports${sfx}`, `${addr} . inet_proto . inet_service`, ports, ['interval']));
    chain.push(
      `    meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'} ${ip} daddr != @local${sfx} accept`,
      spec.isolated ? `    ${ip} saddr @own${sfx} counter drop comment "within"` : `    ${ip} saddr @own${sfx} accept`,
      `    ${ip} saddr @any${sfx} accept`,
      `    ${ip} saddr . meta l4proto . th dport @ports${sfx} accept`,
    );
    for (const c of spec.connected)
      for (const s of byFamily(c.subnets, family))
        chain.push(`    ${ip} saddr ${s} counter drop comment "from ${c.network}"`);
  }
  if (spec.restrictOutside) chain.push('    counter drop comment "from outside"');
  return `table inet ${POLICY_TABLE} {\n${lines.join('\n')}\n  chain forward {\n${chain.join('\n')}\n  }\n}\n`;
}

/** Replaces the namespace's table with `spec`'s (one transaction), or removes it (undefined). */
export async function applyPolicyFilter(netnsPath: string, spec: PolicyFilterSpec | undefined): Promise<void> {
  // `table` first: deleting a table that does not exist would fail the whole transaction.
  const reset = `table inet ${POLICY_TABLE}\ndelete table inet ${POLICY_TABLE}\n`;
  await nft(netnsPath, ['-f', '-'], spec ? `${reset}${renderPolicyFilter(spec)}` : reset);
}

/** The table as the kernel holds it (`nft -s`: without counters), or undefined when there is none. */
export async function readPolicyFilter(netnsPath: string): Promise<string | undefined> {
  try {
    return await nft(netnsPath, ['-s', 'list', 'table', 'inet', POLICY_TABLE]);
  } catch (e) {
    if (e instanceof NftMissingError) throw e;
    return undefined;
  }
}

/** Packets dropped per source ("from NETWORK", "from outside") as the table's counters say. */
export async function policyDrops(netnsPath: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await nft(netnsPath, ['list', 'chain', 'inet', POLICY_TABLE, 'forward']).catch(() => '');
  for (const m of text.matchAll(/counter packets (\d+) bytes \d+ drop comment "from ([^"]+)"/g))
    out.set(m[2] as string, (out.get(m[2] as string) ?? 0) + Number(m[1]));
  return out;
}
