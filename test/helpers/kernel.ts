/** Independent readers of kernel state for assertions: iproute2's JSON output, not our own codec. */
import { $ } from 'zx';

$.verbose = false;
$.quiet = true;

export interface IpFdbRow {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
  master?: string;
}

export async function bridgeFdb(netns: string, dev: string): Promise<IpFdbRow[]> {
  const r = await $`bridge -n ${netns} -j fdb show dev ${dev}`;
  return JSON.parse(r.stdout || '[]') as IpFdbRow[];
}

export interface IpNeighRow {
  dst: string;
  lladdr?: string;
  state?: string[];
}

export async function ipNeigh(netns: string, dev: string): Promise<IpNeighRow[]> {
  const r = await $`ip -n ${netns} -j -4 neigh show dev ${dev}`;
  return JSON.parse(r.stdout || '[]') as IpNeighRow[];
}

export interface IpLinkRow {
  ifname: string;
  mtu: number;
  address?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

export async function ipLinks(netns: string): Promise<IpLinkRow[]> {
  const r = await $`ip -n ${netns} -j -d link show`;
  return JSON.parse(r.stdout || '[]') as IpLinkRow[];
}

/** A text snapshot of links, addresses, routes, fdb and neighbours of some namespaces (no counters). */
export async function snapshot(namespaces: string[]): Promise<string> {
  const parts: string[] = [];
  for (const ns of namespaces) {
    const exists = (await $`ip netns list`).stdout.split('\n').some((l) => l.split(' ')[0] === ns);
    if (!exists) {
      parts.push(`${ns}: absent`);
      continue;
    }
    parts.push(`== ${ns}`);
    parts.push((await $`ip -n ${ns} -o link show`).stdout.replace(/ state \S+/g, '').replace(/qlen \d+/g, ''));
    parts.push((await $`ip -n ${ns} -o addr show`).stdout.replace(/valid_lft.*$/gm, ''));
    parts.push((await $`ip -n ${ns} route show`).stdout);
    parts.push((await $`bridge -n ${ns} fdb show`).stdout);
    parts.push((await $`ip -n ${ns} neigh show nud permanent`).stdout);
  }
  return parts.join('\n');
}
