/**
 * Agent configuration: defaults < config file (JSON) < environment (VXMESH_*) < flags. Every value is
 * validated; an error names the setting and where it came from.
 */
import { parseIPv6 } from '../core/ipv6.js';
import {
  DEFAULT_ADMIN_SOCKET,
  DEFAULT_GOSSIP_PORT,
  DEFAULT_LISTEN,
  DEFAULT_NETNS_PREFIX,
  DEFAULT_VXLAN_PORT,
  DEFAULT_ENCRYPTED_PORT,
  DEFAULT_WIREGUARD_PORT,
} from '../core/defaults.js';
import { NAME_PATTERN } from '../core/names.js';
import fs from 'node:fs';
import os from 'node:os';
import { ValidationError } from '../core/errors.js';
import { isIPv4, parseIfName, parsePort } from '../core/addresses.js';
import { isIPv6 } from 'node:net';
import { parseStoreUrl } from '../store/store-url.js';
import { parseHostPort } from '../discovery/node.js';

/** The port of --dns-upstream when none is given. */
export const DNS_PORT = 53;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface AgentConfig {
  name: string;
  vtep?: string;
  underlayDev?: string;
  listen: string;
  join: string[];
  clusterKey?: string;
  /** Another key accepted from peers during a key change (docs/operations.md). */
  clusterKeyAccept?: string;
  /** Run without a cluster key on purpose: any host reaching the gossip port may join. */
  insecure: boolean;
  stateDir: string;
  socket: string;
  netnsPrefix: string;
  vxlanPort: number;
  /** Encrypted networks: the host's WireGuard interface (off: they are refused here), its UDP port, and the VXLAN port inside it. */
  wireguard: boolean;
  wireguardPort: number;
  encryptedPort: number;
  metrics?: string;
  logLevel: LogLevel;
  /** Periodic reconcile (drift repair). */
  reconcileIntervalMs: number;
  /** Repair drift at the kernel's notifications as well (overlay namespaces watched). */
  kernelEvents: boolean;
  /** How long an IPAM block claim must stand uncontested before addresses are taken from it. */
  ipamSettleMs: number;
  /** Keep a dead (or departed) agent's endpoints while its VTEP still answers ping, at most this long. */
  deadAgentHoldMs: number;
  /** Docker plugin socket directory, and whether the plugin is on. */
  pluginDir: string;
  dockerPlugin: boolean;
  /** Create Docker networks on the local engine for every vxmesh network (needs dockerHost). */
  dockerSync: boolean;
  /** Name the endpoints of Docker containers after the containers (needs dockerHost: the Engine API). */
  dockerNames: boolean;
  dockerHost: string;
  /** Egress and published ports for attached endpoints (needs iptables). */
  egress: boolean;
  /** A DNS server per network on its gateway address (names of endpoints). */
  dns: boolean;
  /** Where the DNS servers send other names: HOST[:PORT]; default the first nameserver of /etc/resolv.conf. */
  dnsUpstream?: string;
  /** Questions per second one client may send to its network's DNS server (burst twice that); beyond, dropped. */
  dnsClientRate: number;
  /** Optional etcd store (`etcd://HOST:PORT[,...]`, `etcds://` for TLS) and its key prefix. */
  store?: string;
  storePrefix: string;
  /** etcds://: the CA that signed the servers' certificates (default: the system's), a client certificate and key. */
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  /** etcd authentication: the user, and a file holding its password (owner-only). */
  storeUser?: string;
  storePasswordFile?: string;
  /** Discovery tuning (tests and benchmarks). */
  discovery?: Record<string, number>;
}

export const DEFAULTS: AgentConfig = {
  name:
    os
      .hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 63) || 'host',
  listen: DEFAULT_LISTEN,
  join: [],
  insecure: false,
  stateDir: '/var/lib/vxmesh',
  socket: DEFAULT_ADMIN_SOCKET,
  netnsPrefix: DEFAULT_NETNS_PREFIX,
  vxlanPort: DEFAULT_VXLAN_PORT,
  wireguard: true,
  wireguardPort: DEFAULT_WIREGUARD_PORT,
  encryptedPort: DEFAULT_ENCRYPTED_PORT,
  logLevel: 'info',
  reconcileIntervalMs: 5000,
  kernelEvents: true,
  ipamSettleMs: 1500,
  deadAgentHoldMs: 60 * 60_000,
  pluginDir: '/run/docker/plugins',
  dockerPlugin: true,
  dockerSync: false,
  dockerNames: false,
  dockerHost: '/run/docker.sock',
  egress: true,
  dns: true,
  dnsClientRate: 500,
  storePrefix: '/vxmesh/',
};

/** Settings: flag name, env name, config-file key, and how to check a value. */
interface Setting {
  key: keyof AgentConfig;
  flag: string;
  env: string;
  parse(v: unknown, where: string): unknown;
  /** A boolean: on the command line `--flag`, `--no-flag` or `--flag=true|false`. */
  boolean?: true;
}

const str = (pattern: RegExp, what: string) => (v: unknown, where: string) => {
  if (typeof v !== 'string' || !pattern.test(v))
    throw new ValidationError(where, `${JSON.stringify(v)} is not ${what}`);
  return v;
};
const num = (min: number, max: number) => (v: unknown, where: string) => {
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw new ValidationError(where, `must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
};
const bool = (v: unknown, where: string) => {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ValidationError(where, `must be true or false, got ${JSON.stringify(v)}`);
};
const hostPort = (v: unknown, where: string) => {
  parseHostPort(v, where);
  return v;
};

export const SETTINGS: Setting[] = [
  {
    key: 'name',
    flag: 'name',
    env: 'VXMESH_NAME',
    parse: str(NAME_PATTERN, 'a host name (1-63 of A-Z a-z 0-9 _ . -)'),
  },
  {
    key: 'vtep',
    flag: 'vtep',
    env: 'VXMESH_VTEP',
    parse: (v, w) => {
      if (isIPv4(v)) return v;
      if (typeof v === 'string' && isIPv6(v)) return parseIPv6(v, w);
      throw new ValidationError(w, `${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
    },
  },
  { key: 'underlayDev', flag: 'underlay-dev', env: 'VXMESH_UNDERLAY_DEV', parse: (v, w) => parseIfName(v, w) },
  { key: 'listen', flag: 'listen', env: 'VXMESH_LISTEN', parse: hostPort },
  {
    key: 'join',
    flag: 'join',
    env: 'VXMESH_JOIN',
    parse: (v, w) => {
      const list = Array.isArray(v)
        ? v
        : typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined;
      if (!list) throw new ValidationError(w, 'must be host:port[,host:port...]');
      list.forEach((s, i) => parseHostPort(s, `${w}[${i}]`, DEFAULT_GOSSIP_PORT));
      return list;
    },
  },
  { key: 'clusterKey', flag: 'cluster-key', env: 'VXMESH_CLUSTER_KEY', parse: str(/^.+$/, 'a file path') },
  {
    key: 'clusterKeyAccept',
    flag: 'cluster-key-accept',
    env: 'VXMESH_CLUSTER_KEY_ACCEPT',
    parse: str(/^.+$/, 'a file path'),
  },
  { key: 'insecure', flag: 'insecure', env: 'VXMESH_INSECURE', parse: bool, boolean: true },
  { key: 'stateDir', flag: 'state-dir', env: 'VXMESH_STATE_DIR', parse: str(/^\/.*/, 'an absolute path') },
  { key: 'socket', flag: 'socket', env: 'VXMESH_SOCKET', parse: str(/^\/.*/, 'an absolute path') },
  {
    key: 'netnsPrefix',
    flag: 'netns-prefix',
    env: 'VXMESH_NETNS_PREFIX',
    parse: str(/^[A-Za-z0-9_.-]{1,40}$/, 'a namespace prefix (1-40 of A-Z a-z 0-9 _ . -)'),
  },
  { key: 'vxlanPort', flag: 'vxlan-port', env: 'VXMESH_VXLAN_PORT', parse: (v, w) => parsePort(v, w) },
  { key: 'wireguard', flag: 'wireguard', env: 'VXMESH_WIREGUARD', parse: bool, boolean: true },
  { key: 'wireguardPort', flag: 'wireguard-port', env: 'VXMESH_WIREGUARD_PORT', parse: (v, w) => parsePort(v, w) },
  { key: 'encryptedPort', flag: 'encrypted-port', env: 'VXMESH_ENCRYPTED_PORT', parse: (v, w) => parsePort(v, w) },
  { key: 'metrics', flag: 'metrics', env: 'VXMESH_METRICS', parse: hostPort },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'VXMESH_LOG_LEVEL',
    parse: (v, w) => {
      if (typeof v !== 'string' || !(LOG_LEVELS as readonly string[]).includes(v))
        throw new ValidationError(w, `must be one of ${LOG_LEVELS.join(', ')}`);
      return v;
    },
  },
  {
    key: 'reconcileIntervalMs',
    flag: 'reconcile-interval-ms',
    env: 'VXMESH_RECONCILE_INTERVAL_MS',
    parse: num(100, 3_600_000),
  },
  { key: 'kernelEvents', flag: 'kernel-events', env: 'VXMESH_KERNEL_EVENTS', parse: bool, boolean: true },
  { key: 'ipamSettleMs', flag: 'ipam-settle-ms', env: 'VXMESH_IPAM_SETTLE_MS', parse: num(0, 600_000) },
  {
    key: 'deadAgentHoldMs',
    flag: 'dead-agent-hold-ms',
    env: 'VXMESH_DEAD_AGENT_HOLD_MS',
    parse: num(0, 7 * 24 * 3_600_000),
  },
  { key: 'pluginDir', flag: 'plugin-dir', env: 'VXMESH_PLUGIN_DIR', parse: str(/^\/.*/, 'an absolute path') },
  { key: 'dockerPlugin', flag: 'docker-plugin', env: 'VXMESH_DOCKER_PLUGIN', parse: bool, boolean: true },
  { key: 'dockerSync', flag: 'docker-sync', env: 'VXMESH_DOCKER_SYNC', parse: bool, boolean: true },
  { key: 'dockerNames', flag: 'docker-names', env: 'VXMESH_DOCKER_NAMES', parse: bool, boolean: true },
  { key: 'egress', flag: 'egress', env: 'VXMESH_EGRESS', parse: bool, boolean: true },
  { key: 'dns', flag: 'dns', env: 'VXMESH_DNS', parse: bool, boolean: true },
  { key: 'dnsClientRate', flag: 'dns-client-rate', env: 'VXMESH_DNS_CLIENT_RATE', parse: num(1, 1_000_000) },
  {
    key: 'dnsUpstream',
    flag: 'dns-upstream',
    env: 'VXMESH_DNS_UPSTREAM',
    parse: (v, w) => {
      // IPv4[:PORT], [IPv6]:PORT, or a bare IPv6 address (port 53).
      if (typeof v === 'string' && isIPv6(v)) return `[${v}]`;
      const host = parseHostPort(v, w, DNS_PORT).host;
      // An IPv6 address with a port is written in brackets (no guessing which colon starts the port).
      if (host.includes(':') && !String(v).startsWith('['))
        throw new ValidationError(w, `an IPv6 address with a port is written [IPv6]:PORT, got ${JSON.stringify(v)}`);
      if (!isIPv4(host) && !isIPv6(host))
        throw new ValidationError(w, `must be IPv4[:PORT], IPv6 or [IPv6]:PORT, got ${JSON.stringify(v)}`);
      return v;
    },
  },
  {
    key: 'dockerHost',
    flag: 'docker-host',
    env: 'VXMESH_DOCKER_HOST',
    parse: (v, w) => {
      if (typeof v !== 'string' || !/^(unix:\/\/)?\/.+/.test(v))
        throw new ValidationError(w, `must be a unix socket path (unix:///run/docker.sock), got ${JSON.stringify(v)}`);
      return v.replace(/^unix:\/\//, '');
    },
  },
  {
    key: 'store',
    flag: 'store',
    env: 'VXMESH_STORE',
    parse: (v, w) => {
      parseStoreUrl(v, w);
      return v;
    },
  },
  {
    key: 'storePrefix',
    flag: 'store-prefix',
    env: 'VXMESH_STORE_PREFIX',
    parse: str(/^\/(?:[A-Za-z0-9_.-]+\/)*$/, 'a key prefix that starts and ends with / (e.g. /vxmesh/)'),
  },
  { key: 'storeCa', flag: 'store-ca', env: 'VXMESH_STORE_CA', parse: str(/^\/.*/, 'an absolute path') },
  { key: 'storeCert', flag: 'store-cert', env: 'VXMESH_STORE_CERT', parse: str(/^\/.*/, 'an absolute path') },
  { key: 'storeKey', flag: 'store-key', env: 'VXMESH_STORE_KEY', parse: str(/^\/.*/, 'an absolute path') },
  {
    key: 'storeUser',
    flag: 'store-user',
    env: 'VXMESH_STORE_USER',
    parse: str(/^[A-Za-z0-9_.@-]{1,128}$/, 'an etcd user name'),
  },
  {
    key: 'storePasswordFile',
    flag: 'store-password-file',
    env: 'VXMESH_STORE_PASSWORD_FILE',
    parse: str(/^\/.*/, 'an absolute path'),
  },
];

/** The store's TLS and authentication settings go together (named by the flag that is missing). */
function checkStoreAccess(cfg: AgentConfig): void {
  const tls = cfg.storeCa !== undefined || cfg.storeCert !== undefined || cfg.storeKey !== undefined;
  if (tls && !cfg.store?.startsWith('etcds://'))
    throw new ValidationError('store', '--store-ca, --store-cert and --store-key need an etcds:// store (TLS)');
  if ((cfg.storeCert === undefined) !== (cfg.storeKey === undefined))
    throw new ValidationError(
      cfg.storeCert === undefined ? 'store-cert' : 'store-key',
      'a client certificate and its key go together',
    );
  if ((cfg.storeUser === undefined) !== (cfg.storePasswordFile === undefined))
    throw new ValidationError(
      cfg.storeUser === undefined ? 'store-user' : 'store-password-file',
      'the etcd user and its password file go together',
    );
  if (cfg.storeUser !== undefined && cfg.store === undefined)
    throw new ValidationError('store', '--store-user needs a --store');
}

export interface ConfigSources {
  flags: Record<string, string | boolean | undefined>;
  env: NodeJS.ProcessEnv;
  file?: string;
  /** false: a configuration read for something else than running the agent (`vxmesh reset`). */
  requireKey?: boolean;
}

/** Builds the configuration; throws ValidationError naming the setting (e.g. `--vxlan-port`). */
export function loadConfig(src: ConfigSources): AgentConfig {
  const cfg: AgentConfig = { ...DEFAULTS, join: [] };
  const set = (s: Setting, value: unknown, where: string) => {
    (cfg as unknown as Record<string, unknown>)[s.key] = s.parse(value, where);
  };
  const file = typeof src.flags.config === 'string' ? src.flags.config : (src.file ?? src.env.VXMESH_CONFIG);
  if (file !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ValidationError('--config', `cannot read ${file}: ${(e as Error).message}`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new ValidationError('--config', `${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (k === 'discovery') {
        if (v === null || typeof v !== 'object')
          throw new ValidationError(`${file}: discovery`, 'must be an object of numbers');
        cfg.discovery = Object.fromEntries(
          Object.entries(v as Record<string, unknown>).map(([dk, dv]) => [
            dk,
            num(0, 86_400_000)(dv, `${file}: discovery.${dk}`) as number,
          ]),
        );
        continue;
      }
      const s = SETTINGS.find((x) => x.key === k || x.flag === k);
      if (!s) throw new ValidationError(`${file}: ${k}`, 'unknown setting');
      set(s, v, `${file}: ${k}`);
    }
  }
  for (const s of SETTINGS) if (src.env[s.env] !== undefined) set(s, src.env[s.env], s.env);
  for (const s of SETTINGS) if (src.flags[s.flag] !== undefined) set(s, src.flags[s.flag], `--${s.flag}`);
  checkStoreAccess(cfg);
  checkUnderlayFamily(cfg);
  if (cfg.clusterKey === undefined && !cfg.insecure && src.requireKey !== false)
    throw new ValidationError('cluster-key', NO_KEY);
  if (cfg.clusterKey !== undefined && cfg.insecure)
    throw new ValidationError(
      'insecure',
      '--insecure and --cluster-key exclude each other: a cluster key closes the cluster',
    );
  return cfg;
}

/**
 * A VXLAN device is single-family: the VTEP's family is the underlay's, and the hosts joined must be
 * reachable in it (a host of another family could never carry this host's frames).
 */
function checkUnderlayFamily(cfg: AgentConfig): void {
  if (cfg.vtep === undefined) return;
  const family = cfg.vtep.includes(':') ? 'IPv6' : 'IPv4';
  cfg.join.forEach((j, i) => {
    const host = parseHostPort(j, `--join[${i}]`, DEFAULT_GOSSIP_PORT).host;
    if (!isIPv4(host) && !isIPv6(host)) return; // a name: resolved later, in whichever family it has
    if ((host.includes(':') ? 'IPv6' : 'IPv4') !== family)
      throw new ValidationError(
        'join',
        `${j} is an ${family === 'IPv6' ? 'IPv4' : 'IPv6'} address and this host's VTEP ${cfg.vtep} is ${family}: a VXLAN underlay is one family, so all hosts of a cluster use the same one`,
      );
  });
}

/** Why an agent without a key does not start, and what to do. */
export const NO_KEY = `no cluster key given: without one, any host that reaches the gossip port joins the cluster and may announce endpoints.
  Create a key once:        vxmesh keygen /etc/vxmesh/cluster.key
  copy it to every host (root-only, mode 0600) and start each agent with
                            vxmesh agent --cluster-key /etc/vxmesh/cluster.key ...
  (or "clusterKey" in the config file, VXMESH_CLUSTER_KEY in the environment).
  To run an open cluster on purpose (a lab), pass --insecure.`;
