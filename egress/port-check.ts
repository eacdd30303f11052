/** Whether a host port is free in this process's namespace (a trial bind on all addresses). */
import dgram from 'node:dgram';
import net from 'node:net';
import type { PortProtocol } from '../core/port-mappings.js';

export function hostPortFree(protocol: PortProtocol, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind({ port, address: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    } else {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}
