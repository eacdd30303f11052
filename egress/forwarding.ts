/**
 * IPv4 forwarding of the host namespace, which egress needs. When the agent finds it off, the host
 * routed nothing: it sets the FORWARD policy to DROP before switching forwarding on (as Docker does),
 * so that the host routes egress's flows (accepted by its rules) and nothing else. Found on, it is
 * the administrator's: policy and forwarding are left as they are.
 */
import fs from 'node:fs';
import { inNetnsFd } from '../core/netns-switch.js';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Reads and switches a namespace's IPv4 forwarding (tests give a fake). */
export interface ForwardingSwitch {
  isOn(): boolean;
  switchOn(): void;
}

/** Runs `fn` with the thread in the namespace at `netnsPath` (this process's own when undefined). */
function inNamespace(netnsPath: string | undefined): <T>(fn: () => T) => T {
  return <T>(fn: () => T): T => {
    if (netnsPath === undefined) return fn();
    const fd = fs.openSync(netnsPath, 'r');
    try {
      return inNetnsFd(fd, fn);
    } finally {
      fs.closeSync(fd);
    }
  };
}

/** The forwarding switch of the namespace at `netnsPath` (this process's own when undefined). */
export function procForwarding(netnsPath?: string): ForwardingSwitch {
  const inNs = inNamespace(netnsPath);
  return {
    isOn: () => inNs(() => fs.readFileSync(IP_FORWARD, 'utf8').trim() === '1'),
    switchOn: () => inNs(() => fs.writeFileSync(IP_FORWARD, '1')),
  };
}

const IP6_FORWARD = '/proc/sys/net/ipv6/conf/all/forwarding';
const IP6_CONF = '/proc/sys/net/ipv6/conf';

/**
 * IPv6 forwarding of the host namespace (networks with an IPv6 subnet and egress). A host that
 * forwards IPv6 ignores router advertisements on interfaces with `accept_ra=1`: a host configured by
 * SLAAC would lose its default route. So every interface with `accept_ra=1` is set to 2 (accept them
 * while forwarding) before forwarding goes on; `accept_ra=0` stays (the administrator's).
 */
export function procForwarding6(netnsPath?: string): ForwardingSwitch {
  const inNs = inNamespace(netnsPath);
  return {
    isOn: () => inNs(() => fs.existsSync(IP6_FORWARD) && fs.readFileSync(IP6_FORWARD, 'utf8').trim() === '1'),
    switchOn: () =>
      inNs(() => {
        for (const dev of fs.readdirSync(IP6_CONF)) {
          if (dev === 'all' || dev === 'lo') continue;
          const file = `${IP6_CONF}/${dev}/accept_ra`;
          if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === '1') fs.writeFileSync(file, '2');
        }
        fs.writeFileSync(IP6_FORWARD, '1');
      }),
  };
}
