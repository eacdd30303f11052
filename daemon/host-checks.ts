/**
 * Warnings about this host for `vxmesh status` and the agent's start: ARP table thresholds below what
 * the cluster needs, tools missing for what is switched on, Docker swarm on the same VXLAN port.
 * The pure parts take what was read, so they are tested without the host.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from './config.js';

export interface NeighThresholds {
  gcThresh2: number;
  gcThresh3: number;
}

/**
 * Each host holds a neighbour entry per peer host (underlay ARP, dynamic) and per remote endpoint
 * (static, in overlay namespaces); past gc_thresh2 the kernel collects entries hard, past gc_thresh3 it
 * refuses new ones ("neighbor table overflow!").
 */
export function arpWarning(need: number, t: NeighThresholds | undefined): string | undefined {
  if (!t || need <= t.gcThresh2) return undefined;
  return `about ${need} neighbour entries needed here (members + remote endpoints), above net.ipv4.neigh.default.gc_thresh2 = ${t.gcThresh2} (gc_thresh3 = ${t.gcThresh3}): raise them (docs/operations.md, "Sysctls for large networks")`;
}

export function readNeighThresholds(procSys = '/proc/sys'): NeighThresholds | undefined {
  try {
    const read = (n: string) => Number(fs.readFileSync(path.join(procSys, 'net/ipv4/neigh/default', n), 'utf8'));
    return { gcThresh2: read('gc_thresh2'), gcThresh3: read('gc_thresh3') };
  } catch {
    return undefined;
  }
}

/** The tools what is switched on needs, as (command, Debian package, what fails without it). */
export function neededTools(cfg: Pick<AgentConfig, 'wireguard' | 'egress'>, kernelWireguard: boolean) {
  const out: Array<{ command: string; pkg: string; needed: string }> = [
    { command: 'nsenter', pkg: 'util-linux', needed: 'namespaces' },
  ];
  if (cfg.egress) out.push({ command: 'iptables-save', pkg: 'iptables', needed: 'egress and published ports' });
  if (cfg.wireguard) {
    out.push({ command: 'wg', pkg: 'wireguard-tools', needed: 'encrypted networks' });
    if (!kernelWireguard) out.push({ command: 'wireguard-go', pkg: 'wireguard-go', needed: 'encrypted networks' });
  }
  return out;
}

const onPath = (command: string, pathEnv = process.env.PATH ?? ''): boolean =>
  pathEnv.split(':').some((d) => {
    try {
      fs.accessSync(path.join(d || '.', command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

export function missingToolWarnings(
  cfg: Pick<AgentConfig, 'wireguard' | 'egress'>,
  has: (command: string) => boolean = onPath,
  kernelWireguard = fs.existsSync('/sys/module/wireguard'),
): string[] {
  return neededTools(cfg, kernelWireguard)
    .filter((t) => !has(t.command))
    .map((t) => `${t.command} is missing (Debian package ${t.pkg}): ${t.needed} fail on this host`);
}
