/**
 * `--docker-names`: the names of Docker containers on vxmesh networks, for the networks' DNS servers.
 * Docker tells a network driver nothing about the container (Join has no name), so the agent asks the
 * Engine API (dockerode, `--docker-host`): at start for running containers and at every container
 * `start` event, it reads the container's name and its aliases on each network and sets them on the
 * endpoint this driver made (re-announced to the cluster). A Docker name that is not a DNS label is
 * mapped (lower case, `_` and `.` → `-`, at most 63 characters); one that still is not a label is
 * skipped with a warning — `docker run` never fails because of a name.
 */
import Docker from 'dockerode';
import { DNS_LABEL_PATTERN } from '../core/dns-names.js';
import type { Logger } from '../core/logger.js';
import type { Agent } from '../agent/agent.js';
import type { DockerPlugin } from './plugin.js';

/** A Docker name as a DNS label, or undefined. */
export function dnsLabelOf(dockerName: string): string | undefined {
  const label = dockerName
    .replace(/^\//, '')
    .toLowerCase()
    .replace(/[_.]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return DNS_LABEL_PATTERN.test(label) ? label : undefined;
}

interface NetworkEntry {
  EndpointID?: string;
  Aliases?: string[] | null;
  DNSNames?: string[] | null;
}

export class DockerNames {
  private readonly docker: Docker;
  private stopped = false;

  constructor(
    private readonly agent: Agent,
    private readonly plugin: DockerPlugin,
    socketPath: string,
    private readonly log: Logger,
  ) {
    this.docker = new Docker({ socketPath });
  }

  start(): void {
    void this.follow();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Running containers first, then every start event; the event stream is reopened when it ends. */
  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        const stream = await this.docker.getEvents({ filters: { type: ['container'], event: ['start'] } });
        for (const c of await this.docker.listContainers()) await this.apply(c.Id);
        await new Promise<void>((resolve) => {
          let buf = '';
          stream.on('data', (d: Buffer) => {
            buf += d.toString();
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              try {
                const ev = JSON.parse(line) as { id?: string };
                if (ev.id) void this.apply(ev.id);
              } catch {
                /* not an event line */
              }
            }
          });
          stream.on('end', resolve);
          stream.on('error', resolve);
        });
      } catch (e) {
        this.log.warn(
          { err: (e as Error).message },
          'docker names: the Engine API does not answer (retrying in 5 s); containers are not named meanwhile',
        );
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 5000).unref());
    }
  }

  /** Sets the names of one container's vxmesh endpoints. */
  async apply(containerId: string): Promise<void> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      const name = info.Name.replace(/^\//, '');
      const label = dnsLabelOf(name);
      if (label === undefined)
        this.log.warn(
          { container: name },
          'docker names: the container name is not a DNS label even mapped; it gets no name',
        );
      const networks = (info.NetworkSettings?.Networks ?? {}) as Record<string, NetworkEntry>;
      for (const net of Object.values(networks)) {
        const eid = net.EndpointID;
        const network = eid ? this.plugin.networkOfEndpoint(eid) : undefined;
        if (!eid || !network) continue;
        const short = info.Id.slice(0, 12);
        const aliases = [...new Set([...(net.Aliases ?? []), ...(net.DNSNames ?? [])])]
          .filter((a) => a !== name && a !== short && a !== info.Id)
          .map((a) => dnsLabelOf(a))
          .filter((a): a is string => a !== undefined && a !== label);
        await this.agent.renameEndpoint(network, eid, label, aliases.slice(0, 16));
      }
    } catch (e) {
      this.log.warn(
        { container: containerId, err: (e as Error).message },
        'docker names: could not name the container',
      );
    }
  }
}
