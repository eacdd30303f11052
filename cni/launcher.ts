#!/usr/bin/env node
/**
 * The CNI plugin executable: what a runtime runs as `vxmesh` from its plugin directory. It only relays
 * the `CNI_*` variables and stdin to the local agent (POST /v1/cni on the admin socket) and prints
 * what the agent answers; VERSION is answered here, and an agent that does not answer is CNI's code
 * 11 (try again later), or 50 for STATUS. Its import graph is node:fs, node:http and two constants:
 * a process start is most of its cost (bench:cni).
 *
 * The socket: the configuration's "socket", else VXMESH_SOCKET, else the agent's default.
 */
import fs from 'node:fs';
import http from 'node:http';
import { DEFAULT_ADMIN_SOCKET } from '../core/defaults.js';
import { SUPPORTED_VERSIONS } from './versions.js';

const TIMEOUT_MS = 120_000;

function print(v: unknown, code: number): never {
  if (v !== undefined) process.stdout.write(`${JSON.stringify(v)}\n`);
  process.exit(code);
}

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('CNI_') && v !== undefined) env[k] = v;
let config = '';
try {
  config = fs.readFileSync(0, 'utf8');
} catch {
  config = '';
}
let parsed: { cniVersion?: unknown; socket?: unknown } = {};
try {
  const v: unknown = JSON.parse(config);
  if (v && typeof v === 'object') parsed = v as typeof parsed;
} catch {
  // The agent names the decoding error (code 6); VERSION does without a configuration.
}
const cniVersion = typeof parsed.cniVersion === 'string' ? parsed.cniVersion : SUPPORTED_VERSIONS[0];
const fail = (code: number, msg: string, details?: string): never =>
  print({ cniVersion, code, msg, ...(details ? { details } : {}) }, 1);

if (env.CNI_COMMAND === 'VERSION') print({ cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] }, 0);
const socketPath =
  typeof parsed.socket === 'string' && parsed.socket !== ''
    ? parsed.socket
    : (process.env.VXMESH_SOCKET ?? DEFAULT_ADMIN_SOCKET);
const body = JSON.stringify({ env, config });
const req = http.request(
  {
    socketPath,
    path: '/v1/cni',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    timeout: TIMEOUT_MS,
  },
  (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      let answer: { ok?: boolean; result?: unknown; error?: unknown } & { field?: string } = {};
      try {
        answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof answer;
      } catch {
        fail(5, `the vxmesh agent at ${socketPath} answered something that is not JSON`);
      }
      if (res.statusCode !== 200) fail(101, String(answer.error ?? `HTTP ${res.statusCode}`), answer.field);
      if (answer.ok) print(answer.result, 0);
      print(answer.error, 1);
    });
  },
);
req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
req.on('error', (e: NodeJS.ErrnoException) => {
  const down = `the vxmesh agent is not answering on ${socketPath} (${e.code ?? e.message})`;
  if (env.CNI_COMMAND === 'STATUS') fail(50, `${down}: containers cannot be attached`);
  fail(11, `${down}: try again later`);
});
req.end(body);
