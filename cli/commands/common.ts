/** Flags shared by the commands that talk to the agent. */
import { DEFAULT_ADMIN_SOCKET as DEFAULT_SOCKET } from '../../core/defaults.js';

export const CLIENT_FLAGS = { socket: { type: 'string' as const }, json: { type: 'boolean' as const } };

export const CLIENT_HELP = `  --socket PATH       agent socket (default ${DEFAULT_SOCKET}, or $VXMESH_SOCKET)
  --json              machine-readable output
  -h, --help          this text`;

export function socketOf(values: { socket?: string }): string {
  return values.socket ?? process.env.VXMESH_SOCKET ?? DEFAULT_SOCKET;
}
