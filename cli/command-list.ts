/**
 * The commands of `vxmesh`, each loaded when it runs: a command that talks to the agent starts in about
 * 0.1 s, instead of the 1 s it takes to load the agent itself (only `agent` and `reset` need it;
 * `dns-keeper` loads the DNS server alone).
 */
import type { Command } from './support.js';

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: 'agent',
    summary: 'run the agent (daemon) of this host',
    load: async () => (await import('./commands/agent.js')).agentCommand,
  },
  {
    name: 'status',
    summary: 'this agent on one screen',
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  {
    name: 'network',
    summary: 'create, list, inspect, remove and connect networks',
    load: async () => (await import('./commands/network.js')).networkCommand,
  },
  {
    name: 'policy',
    summary: 'rules letting traffic in from connected networks or outside',
    load: async () => (await import('./commands/policy.js')).policyCommand,
  },
  {
    name: 'attach',
    summary: 'connect a network namespace to a network',
    load: async () => (await import('./commands/attach.js')).attachCommand,
  },
  {
    name: 'detach',
    summary: 'disconnect a network namespace from a network',
    load: async () => (await import('./commands/attach.js')).detachCommand,
  },
  {
    name: 'peers',
    summary: 'list cluster members',
    load: async () => (await import('./commands/peers.js')).peersCommand,
  },
  {
    name: 'endpoints',
    summary: 'list endpoints of the networks this host holds',
    load: async () => (await import('./commands/peers.js')).endpointsCommand,
  },
  {
    name: 'fdb',
    summary: 'fdb and neighbour tables: kernel beside desired',
    load: async () => (await import('./commands/fdb.js')).fdbCommand,
  },
  {
    name: 'keygen',
    summary: 'generate a cluster key',
    load: async () => (await import('./commands/keygen.js')).keygenCommand,
  },
  {
    name: 'cni',
    summary: 'install or remove the CNI plugin (Podman, containerd)',
    load: async () => (await import('./commands/cni.js')).cniCommand,
  },
  {
    name: 'reset',
    summary: 'remove what the agent made on this host (agent stopped)',
    load: async () => (await import('./commands/reset.js')).resetCommand,
  },
  {
    name: 'dns-keeper',
    summary: 'keeps DNS answering through agent restarts (started by the agent)',
    load: async () => (await import('./commands/dns-keeper.js')).dnsKeeperCommand,
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash)',
    load: async () =>
      (await import('./commands/completion.js')).completionCommand(() =>
        Promise.all(COMMANDS.filter((c) => c.name !== 'completion').map((c) => c.load())),
      ),
  },
];
