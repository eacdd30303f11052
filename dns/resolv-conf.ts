/**
 * The resolver of a named namespace: `ip netns exec NAME ...` bind-mounts /etc/netns/NAME/resolv.conf
 * over /etc/resolv.conf. `vxmesh attach` writes one pointing at the network's DNS server (unless the
 * file exists and is not ours) and removes it at detach if it is still ours.
 */
import fs from 'node:fs';
import path from 'node:path';
import { networkDomain } from './zone.js';

export const NETNS_ETC_DIR = '/etc/netns';
const MARK = '# written by vxmesh';

export function resolvConfText(server: string, network: string): string {
  return `${MARK} for network ${network}\nnameserver ${server}\nsearch ${networkDomain(network)}\noptions ndots:1\n`;
}

const fileOf = (netnsName: string, dir: string) => path.join(dir, netnsName, 'resolv.conf');

/** Writes it for a named namespace (not a path); false when a resolv.conf of someone else is there. */
export function writeResolvConf(netnsName: string, server: string, network: string, dir = NETNS_ETC_DIR): boolean {
  if (netnsName.includes('/')) return false;
  const file = fileOf(netnsName, dir);
  if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').startsWith(MARK)) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, resolvConfText(server, network));
  return true;
}

/** Whether the namespace's resolv.conf is one vxmesh wrote. */
export function isOurResolvConf(netnsName: string, dir = NETNS_ETC_DIR): boolean {
  const file = fileOf(netnsName, dir);
  return fs.existsSync(file) && fs.readFileSync(file, 'utf8').startsWith(MARK);
}

/** Removes it if it is ours (and the directory if then empty). */
export function removeResolvConf(netnsName: string, dir = NETNS_ETC_DIR): void {
  if (netnsName.includes('/')) return;
  const file = fileOf(netnsName, dir);
  if (!isOurResolvConf(netnsName, dir)) return;
  fs.rmSync(file);
  try {
    fs.rmdirSync(path.dirname(file));
  } catch {
    /* not empty: something else is there */
  }
}
