/**
 * The service-manager protocols: notifications reach a real unix datagram socket (a path, or an
 * abstract name), activation variables are read only when they are for this process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { activatedSockets, notifyServiceManager } from '../../daemon/service-manager.js';
import { unixAddress } from '../../core/sockets.js';
import { NotifyReceiver } from '../../sim/service-manager.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-sm-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('notifications arrive as key=value lines', async (t) => {
  const rx = new NotifyReceiver(path.join(dir, 'notify'));
  t.teardown(() => rx.close());
  t.same(notifyServiceManager({ READY: '1', STATUS: 'serving\nwell' }, { NOTIFY_SOCKET: rx.path }), { sent: true });
  t.ok(await rx.waitFor('READY', 2000), 'READY received');
  t.same(rx.messages[0]?.state, { READY: '1', STATUS: 'serving well' }, 'a newline in a value cannot start a new key');
});

t.test('without NOTIFY_SOCKET nothing is sent; a dead socket is an error, not a throw', async (t) => {
  t.same(notifyServiceManager({ READY: '1' }, {}), { sent: false });
  const r = notifyServiceManager({ READY: '1' }, { NOTIFY_SOCKET: path.join(dir, 'nobody') });
  t.equal(r.sent, false);
  t.match(r.error, /sendto\(.*nobody\): No such file/);
  t.match(
    notifyServiceManager({ READY: '1' }, { NOTIFY_SOCKET: `/${'x'.repeat(200)}` }).error,
    /NOTIFY_SOCKET: .*longer than/,
  );
});

t.test('socket addresses: a path is NUL-terminated, an abstract name starts with NUL', async (t) => {
  const p = unixAddress('/run/x');
  t.equal(p.len, 2 + 6 + 1);
  t.equal(p.addr.subarray(2, 8).toString(), '/run/x');
  const a = unixAddress('@sd/notify');
  t.equal(a.len, 2 + 1 + 9);
  t.equal(a.addr[2], 0);
  t.equal(a.addr.subarray(3, 12).toString(), 'sd/notify');
  t.throws(() => unixAddress(''), /empty/);
});

t.test('activated sockets: only for this pid, by name', async (t) => {
  t.same(
    [...activatedSockets({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)],
    [['plugin', 3]],
    'one unnamed socket is the plugin socket',
  );
  t.same(
    [...activatedSockets({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'admin:plugin' }, 42)],
    [
      ['admin', 3],
      ['plugin', 4],
    ],
  );
  t.same(
    [...activatedSockets({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42)],
    [],
    'variables inherited from a parent are ignored',
  );
  t.same([...activatedSockets({ LISTEN_FDS: '1' }, 42)], [], 'no LISTEN_PID: ignored');
  t.same([...activatedSockets({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42)], [], 'a bad count: none');
});
