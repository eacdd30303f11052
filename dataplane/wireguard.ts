/**
 * The host's WireGuard interface for encrypted networks (one per host, not per network), built or
 * repaired idempotently: the kernel's WireGuard where the kernel has it, else Debian's `wireguard-go`
 * (userspace, on a TUN device). Both are configured by the same `wg set` commands (wireguard-tools
 * speaks netlink to the kernel and the UAPI socket to wireguard-go), so the tested userspace path
 * issues exactly what the kernel path would: `plan()` is the one place the arguments are made.
 *
 * wireguard-go is a process of its own: started detached (its own session, output to a file, never a
 * pipe: a Go program exits on its next log line when the reader of its pipe is gone), it outlives the
 * agent, and a restarted agent adopts the interface it finds. Its control socket is
 * /var/run/wireguard/<ifname>.sock, one directory for every namespace of the machine: the interface
 * name is derived from the namespace prefix (`wireguardIfname`), so simulated hosts never collide.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { VxmeshError } from '../core/errors.js';
import { ownScope } from '../core/own-scope.js';

export interface WireguardPeer {
  publicKey: string;
  /** host:port of its WireGuard socket (its VTEP). */
  endpoint: string;
  /** Its tunnel address (/128). */
  tunnel: string;
  /**
   * The pre-shared key for this peer: the file `wg` reads and its base64 value (to compare with what
   * the interface has). Absent: none.
   */
  psk?: { file: string; value: string };
}

export interface WireguardSpec {
  ifname: string;
  /** The host namespace (path); undefined: this process's. */
  netns?: string;
  privateKeyFile: string;
  listenPort: number;
  /** This host's tunnel address and the prefix routed into the interface. */
  tunnel: string;
  tunnelPrefix: string;
  peers: WireguardPeer[];
  /** Where wireguard-go's pid and log go. */
  stateDir: string;
  /**
   * The UDP port of encrypted networks' VXLAN devices: accepted only from this interface (ip6tables,
   * INPUT), whatever the source address says. Undefined: no such rule.
   */
  encryptedPort?: number;
  /** The interface's MTU (underlay − 60 over IPv4, − 80 over IPv6); undefined: left as it is. */
  mtu?: number;
  /**
   * Peers not in `peers` are removed (default true). False before the agent knows the cluster (its
   * first sync): a restarted agent must not cut the peers it has not heard of yet.
   */
  removeOthers?: boolean;
}

/**
 * What an encrypted network's frames carry on top of the underlay's: WireGuard's outer IP, UDP and
 * its own header and tag (60 over an IPv4 underlay, 80 over IPv6), then VXLAN inside the tunnel's
 * IPv6 (70: IPv6 40, UDP 8, VXLAN 8, inner Ethernet 14). IPv4 underlay, 1500: 1500 − 60 − 70 = 1370.
 */
export const encryptedMtuOverhead = (ipv6Underlay: boolean): number => wireguardOverhead(ipv6Underlay) + 70;
/** WireGuard's own overhead: outer IPv4 20 (IPv6 40), UDP 8, its header 16 and tag 16. */
export const wireguardOverhead = (ipv6Underlay: boolean): number => (ipv6Underlay ? 80 : 60);

/** `vxwg` + 6 base-36 characters of the namespace prefix's hash: at most 10 bytes, unique per prefix. */
export const wireguardIfname = (netnsPrefix: string): string =>
  `vxwg${BigInt(`0x${createHash('sha256').update(netnsPrefix).digest('hex').slice(0, 12)}`)
    .toString(36)
    .slice(0, 6)}`;

export class WireguardMissingError extends VxmeshError {
  override name = 'WireguardMissingError';
}

const PACKAGE_OF: Record<string, string> = {
  wg: 'wireguard-tools',
  ip: 'iproute2',
  ip6tables: 'iptables',
  nsenter: 'util-linux',
};

type Run = (cmd: string, args: string[]) => Promise<string>;

const runIn =
  (netns: string | undefined): Run =>
  (cmd, args) =>
    new Promise((resolve, reject) => {
      const [c, a] = netns === undefined ? [cmd, args] : ['nsenter', [`--net=${netns}`, cmd, ...args]];
      execFile(c, a, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /No such file|not found/.test(stderr))
          reject(new WireguardMissingError(`${cmd} is missing: install the Debian package ${PACKAGE_OF[cmd] ?? cmd}`));
        else reject(new VxmeshError(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      });
    });

/**
 * The `wg set` arguments that make the interface's configuration equal `spec`, given what
 * `wg show IF dump` printed and the private key `spec.privateKeyFile` holds.
 */
export function plan(spec: WireguardSpec, dump: string, privateKey: string): string[][] {
  const lines = dump.trim().split('\n').filter(Boolean);
  const have = new Map<string, { psk: string; endpoint: string; allowed: string }>();
  for (const l of lines.slice(1)) {
    const [pub, psk, endpoint, allowed] = l.split('\t');
    if (pub) have.set(pub, { psk: psk ?? '', endpoint: endpoint ?? '', allowed: allowed ?? '' });
  }
  const [priv, , port] = (lines[0] ?? '').split('\t');
  const out: string[][] = [];
  if (port !== String(spec.listenPort) || priv !== privateKey)
    out.push(['set', spec.ifname, 'private-key', spec.privateKeyFile, 'listen-port', String(spec.listenPort)]);
  const wanted = new Set(spec.peers.map((p) => p.publicKey));
  if (spec.removeOthers !== false)
    for (const pub of have.keys()) if (!wanted.has(pub)) out.push(['set', spec.ifname, 'peer', pub, 'remove']);
  for (const p of [...spec.peers].sort((a, b) => a.publicKey.localeCompare(b.publicKey))) {
    const h = have.get(p.publicKey);
    const psk = p.psk?.value ?? '(none)';
    if (h && h.endpoint === p.endpoint && h.allowed === `${p.tunnel}/128` && h.psk === psk) continue;
    // No pre-shared key wanted: /dev/null clears one the interface has.
    const pskArgs = p.psk
      ? ['preshared-key', p.psk.file]
      : h && h.psk !== '(none)'
        ? ['preshared-key', '/dev/null']
        : [];
    out.push([
      'set',
      spec.ifname,
      'peer',
      p.publicKey,
      ...pskArgs,
      'endpoint',
      p.endpoint,
      'allowed-ips',
      `${p.tunnel}/128`,
    ]);
  }
  return out;
}

/** A peer as the interface has it (`wg show IF dump`). */
export interface WireguardPeerState {
  publicKey: string;
  endpoint: string;
  /** Allowed addresses, comma-separated as `wg` prints them. */
  allowed: string;
  /** Unix seconds of the latest handshake; 0: never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** The peers of a `wg show IF dump` (its first line is the interface's own). */
export function parseWireguardDump(dump: string): WireguardPeerState[] {
  return dump
    .trim()
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      const [publicKey = '', , endpoint = '', allowed = '', hs = '0', rx = '0', tx = '0'] = l.split('\t');
      return {
        publicKey,
        endpoint,
        allowed,
        latestHandshake: Number(hs) || 0,
        rxBytes: Number(rx) || 0,
        txBytes: Number(tx) || 0,
      };
    });
}

/** The interface's peers now; undefined when the interface does not exist. */
export async function showWireguard(
  spec: Pick<WireguardSpec, 'ifname' | 'netns'>,
): Promise<WireguardPeerState[] | undefined> {
  const run = runIn(spec.netns);
  if (!(await exists(run, spec.ifname))) return undefined;
  return parseWireguardDump(await run('wg', ['show', spec.ifname, 'dump']));
}

/** Whether the interface exists in the namespace. */
async function exists(run: Run, ifname: string): Promise<boolean> {
  return run('ip', ['-o', 'link', 'show', 'dev', ifname]).then(
    () => true,
    () => false,
  );
}

/** Creates the interface: the kernel's WireGuard if it has one, else a detached wireguard-go. */
async function create(spec: WireguardSpec, run: Run): Promise<'kernel' | 'userspace'> {
  try {
    await run('ip', ['link', 'add', spec.ifname, 'type', 'wireguard']);
    return 'kernel';
  } catch {
    /* no kernel module: userspace */
  }
  fs.mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });
  const log = fs.openSync(path.join(spec.stateDir, `${spec.ifname}.log`), 'a');
  const [c, a] = ownScope(
    spec.ifname,
    spec.netns === undefined
      ? ['wireguard-go', [spec.ifname]]
      : ['nsenter', [`--net=${spec.netns}`, 'wireguard-go', spec.ifname]],
  );
  const child = spawn(c, a, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
  });
  fs.closeSync(log);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new WireguardMissingError('wireguard-go is missing: install the Debian package wireguard-go')
          : e,
      ),
    );
    child.once('exit', (code) =>
      reject(
        // 127: nsenter could not execute it (started in another namespace).
        code === 127
          ? new WireguardMissingError('wireguard-go is missing: install the Debian package wireguard-go')
          : new VxmeshError(`wireguard-go ${spec.ifname} exited with ${code}`),
      ),
    );
  });
  failed.catch(() => undefined); // raced below; an exit between two races must not be unhandled
  child.unref();
  fs.writeFileSync(path.join(spec.stateDir, `${spec.ifname}.pid`), `${child.pid}\n`);
  const deadline = Date.now() + 10_000;
  while (!(await exists(run, spec.ifname))) {
    if (Date.now() > deadline) throw new VxmeshError(`wireguard-go did not make ${spec.ifname} within 10 s`);
    await Promise.race([new Promise((r) => setTimeout(r, 50)), failed]);
  }
  child.removeAllListeners('exit');
  return 'userspace';
}

/** The PID of the wireguard-go this module started for the interface, if it runs. */
export function wireguardGoPid(spec: Pick<WireguardSpec, 'ifname' | 'stateDir'>): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(spec.stateDir, `${spec.ifname}.pid`), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Makes the interface, its peers, address and route equal `spec`; adopts what exists (nothing rewritten
 * when it matches). Returns the `wg` and `ip` changes made.
 */
export async function ensureWireguard(
  spec: WireguardSpec,
): Promise<{ created?: 'kernel' | 'userspace'; changes: string[][] }> {
  const run = runIn(spec.netns);
  const out: { created?: 'kernel' | 'userspace'; changes: string[][] } = { changes: [] };
  if (!(await exists(run, spec.ifname))) out.created = await create(spec, run);
  const privateKey = fs.readFileSync(spec.privateKeyFile, 'utf8').trim();
  const changes = plan(spec, await run('wg', ['show', spec.ifname, 'dump']), privateKey);
  for (const args of changes) await run('wg', args);
  out.changes.push(...changes);
  const addrs = await run('ip', ['-6', '-o', 'addr', 'show', 'dev', spec.ifname]);
  if (!addrs.includes(`${spec.tunnel}/128`)) {
    await run('ip', ['-6', 'addr', 'add', `${spec.tunnel}/128`, 'dev', spec.ifname, 'nodad']);
    out.changes.push(['ip', 'addr', spec.tunnel]);
  }
  const link = await run('ip', ['-o', 'link', 'show', 'dev', spec.ifname]);
  if (spec.mtu !== undefined && !link.includes(` mtu ${spec.mtu} `)) {
    await run('ip', ['link', 'set', spec.ifname, 'mtu', String(spec.mtu)]);
    out.changes.push(['ip', 'link', 'mtu', String(spec.mtu)]);
  }
  if (!/[<,]UP[,>]/.test(link)) {
    await run('ip', ['link', 'set', spec.ifname, 'up']);
    out.changes.push(['ip', 'link', 'up']);
  }
  const routes = await run('ip', ['-6', 'route', 'show', spec.tunnelPrefix, 'dev', spec.ifname]);
  if (!routes.trim()) {
    await run('ip', ['-6', 'route', 'replace', spec.tunnelPrefix, 'dev', spec.ifname, 'metric', '1024']);
    out.changes.push(['ip', 'route', spec.tunnelPrefix]);
  }
  out.changes.push(...(await ensureNoCleartext(spec, run)));
  return out;
}

/** The lowest-priority route of the tunnel prefix: unreachable (never the default route). */
const FALLBACK_METRIC = '4294967295';

/**
 * What keeps encrypted frames inside WireGuard whatever happens to the interface: (1) an `unreachable`
 * route for the tunnel prefix below the interface's route, so with the interface gone (wireguard-go
 * killed, the link deleted) VXLAN to tunnel addresses goes nowhere instead of out of an IPv6 default
 * route in cleartext; (2) the encrypted port dropped unless it arrives through the interface (a forged
 * packet with a member's tunnel address as its source). Both adopted when present.
 */
async function ensureNoCleartext(spec: WireguardSpec, run: Run): Promise<string[][]> {
  const changes: string[][] = [];
  const fallback = await run('ip', ['-6', 'route', 'show', 'type', 'unreachable', spec.tunnelPrefix]);
  if (!fallback.trim()) {
    await run('ip', ['-6', 'route', 'add', 'unreachable', spec.tunnelPrefix, 'metric', FALLBACK_METRIC]);
    changes.push(['ip', 'route', 'unreachable', spec.tunnelPrefix]);
  }
  if (spec.encryptedPort !== undefined) {
    const rule = encryptedPortRule(spec.ifname, spec.encryptedPort);
    // Exactly once (a copy left by a race or by hand would keep dropping after the rule is removed).
    const listed = (await run('ip6tables', ['-w', '-S', 'INPUT'])).split('\n');
    const copies = listed.filter(
      (l) =>
        l.includes(`! -i ${spec.ifname} `) && l.includes(`--dport ${spec.encryptedPort} `) && l.endsWith('-j DROP'),
    ).length;
    if (copies === 0) {
      await run('ip6tables', ['-w', '-I', 'INPUT', '1', ...rule]);
      changes.push(['ip6tables', 'INPUT', ...rule]);
    }
    for (let k = 1; k < copies; k++) {
      await run('ip6tables', ['-w', '-D', 'INPUT', ...rule]);
      changes.push(['ip6tables', 'INPUT', 'duplicate removed', ...rule]);
    }
  }
  return changes;
}

/** The ip6tables rule (INPUT) that drops the encrypted port unless it came through `ifname`. */
export const encryptedPortRule = (ifname: string, port: number): string[] => [
  '-p',
  'udp',
  '-m',
  'udp',
  '--dport',
  String(port),
  '!',
  '-i',
  ifname,
  '-j',
  'DROP',
];

/** Encrypted-port packets dropped because they did not come through the interface (the rule's counter). */
export async function cleartextDrops(spec: Pick<WireguardSpec, 'ifname' | 'netns'>): Promise<number> {
  const out = await runIn(spec.netns)('ip6tables', ['-w', '-L', 'INPUT', '-v', '-x', '-n']).catch(() => '');
  let n = 0;
  for (const line of out.split('\n'))
    if (line.includes(`!${spec.ifname}`) && /\bDROP\b/.test(line)) n += Number(/^\s*(\d+)/.exec(line)?.[1] ?? 0);
  return n;
}
