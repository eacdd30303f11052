/** The admin API's handling of requests that never reach the agent: malformed paths and encodings. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createAdminHandler } from '../../api/admin-api.js';
import type { Agent } from '../../agent/agent.js';
import { newRequestCounts } from '../../core/http-json.js';
import { silentLogger } from '../../core/logger.js';
import { StateFile } from '../../core/state-file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-admin-unit-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const socketPath = path.join(dir, 'api.sock');
const counts = newRequestCounts();
const agent = {
  status: () => ({ name: 'h1' }),
  statusReport: () => Promise.resolve({ version: '0.1.0' }),
  inspectNetwork: (name: string) => ({ name }),
} as unknown as Agent;
const server = http.createServer((req, res) => void createAdminHandler(agent, silentLogger, counts)(req, res));
await new Promise<void>((r) => server.listen(socketPath, r));
t.teardown(() => server.close());

function get(p: string): Promise<{ status: number; body: { error?: string; field?: string } }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: p }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(s) as { error?: string; field?: string } }),
        );
      })
      .on('error', reject);
  });
}

t.test('a path the URL parser refuses is a 400 naming the path, not a crash (found by the fuzz)', async (t) => {
  const r = await get('/////%F2%95%B0%B8');
  t.equal(r.status, 400);
  t.equal(r.body.field, 'path');
  t.equal((await get('/v1/status')).status, 200, 'the server still answers');
});

t.test('malformed percent-encoding in a path parameter is a 400 naming the parameter', async (t) => {
  const r = await get('/v1/networks/%E0%A4%A');
  t.equal(r.status, 400);
  t.equal(r.body.field, 'name');
  t.equal((await get('/v1/networks/red')).status, 200, 'a good one reaches the agent');
});

t.test('every answer is counted by outcome', async (t) => {
  t.same(counts, { ok: 2, rejected: 2, errors: 0 });
});

t.test('a state file that cannot be written: StateDirError naming stateDir and the file', async (t) => {
  const f = path.join(dir, 'ro', 'state.json');
  fs.mkdirSync(path.dirname(f));
  const s = new StateFile(f, () => ({ v: 0 }));
  s.save({ v: 1 });
  fs.rmSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(path.dirname(f), 'not a directory'); // any write below it fails, even as root
  t.throws(() => s.save({ v: 2 }), {
    name: 'StateDirError',
    field: 'stateDir',
    message: /stateDir: cannot write .*state\.json/,
  });
});

t.test('the heap after a forced collection: 409 naming gc without --expose-gc, the figures with it', async (t) => {
  const post = () =>
    new Promise<{
      status: number;
      body: {
        field?: string;
        heapUsedBytes?: number;
        heapTotalBytes?: number;
        rssBytes?: number;
        externalBytes?: number;
      };
    }>((resolve, reject) => {
      const req = http.request({ socketPath, method: 'POST', path: '/v1/debug/heap' }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(s) as { field?: string } }));
      });
      req.on('error', reject);
      req.end('{}');
    });
  const g = globalThis as { gc?: () => void };
  const saved = g.gc;
  t.teardown(() => {
    g.gc = saved;
  });
  g.gc = undefined;
  const refused = await post();
  t.equal(refused.status, 409);
  t.equal(refused.body.field, 'gc');
  let collected = 0;
  g.gc = () => void collected++;
  const r = await post();
  t.equal(r.status, 200);
  t.equal(collected, 1, 'one forced collection');
  t.ok((r.body.heapUsedBytes ?? 0) > 0, 'the heap used after it');
  t.ok((r.body.heapTotalBytes ?? 0) >= (r.body.heapUsedBytes ?? 0), 'the heap reserved');
  t.ok((r.body.rssBytes ?? 0) > (r.body.heapUsedBytes ?? 0), 'the resident memory');
  t.type(r.body.externalBytes, 'number', 'memory outside the heap (buffers)');
});
