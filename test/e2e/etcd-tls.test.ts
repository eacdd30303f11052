/**
 * The store over TLS with client certificates and etcd authentication, against a real etcd (Debian
 * etcd-server) started with TLS and auth here: etcds://, CA, client certificate and key, user and
 * password from a file; what is missing or wrong is refused, naming the setting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { StoreError, ValidationError } from '../../core/errors.js';
import { loadConfig } from '../../daemon/config.js';
import { EtcdStore } from '../../store/etcd-store.js';
import { startEtcd } from '../../sim/etcd-server.js';
import { Testbed } from '../../sim/testbed.js';

const tb = await Testbed.create({ hosts: 0, tag: 'etcdtls' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-etcd-tls-'));
t.teardown(async () => {
  await tb.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});
const etcd = await startEtcd(tb, { dir, tls: true });
const files = etcd.tls!;
const endpoint = etcd.url.replace('etcds://', 'https://');

// Authentication on: root (needed to enable it) and a user for vxmesh with access to its prefix only.
const admin = new Etcd3({
  hosts: endpoint,
  credentials: {
    rootCertificate: fs.readFileSync(files.ca),
    certChain: fs.readFileSync(files.clientCert),
    privateKey: fs.readFileSync(files.clientKey),
  },
});
await admin.user('root').create('root-pw');
await admin.user('root').addRole('root');
const role = await admin.role('vxmesh').create();
await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: '/tls/' }) });
await admin.user('vxmesh').create('s3cret');
await admin.user('vxmesh').addRole('vxmesh');
await admin.auth.authEnable();
admin.close();

const passwordFile = path.join(dir, 'password');
fs.writeFileSync(passwordFile, 's3cret\n', { mode: 0o600 });
const wrongPassword = path.join(dir, 'wrong');
fs.writeFileSync(wrongPassword, 'nope\n', { mode: 0o600 });
const tls = { ca: files.ca, cert: files.clientCert, key: files.clientKey };
const opts = { prefix: '/tls/', timeoutMs: 3000 };
const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) =>
      e instanceof ValidationError ? `field ${e.field}` : e instanceof StoreError ? 'store error' : String(e),
  );

t.test('etcds:// with CA, client certificate and key, user and password from a file: the store works', async (t) => {
  const s = await EtcdStore.connect(etcd.url, { ...opts, tls, auth: { user: 'vxmesh', passwordFile } });
  t.teardown(() => s.close());
  const created = await s.createNetwork({ name: 'secure', vni: 4242, subnet: '198.18.90.0/24' });
  t.ok(created.created, 'a network created through TLS and auth');
  t.same(
    (await s.networks()).map((n) => n.name),
    ['secure'],
  );
  const ip = await s.allocate({ name: 'secure', vni: 4242, subnet: '198.18.90.0/24' }, 'h1', [], 'peer-a');
  t.match(ip, /^198\.18\.90\.\d+$/, 'an address allocated');
});

t.test('refused: no client certificate, a wrong password, plaintext, another prefix', async (t) => {
  t.equal(
    await errorOf(
      EtcdStore.connect(etcd.url, { ...opts, tls: { ca: files.ca }, auth: { user: 'vxmesh', passwordFile } }),
    ),
    'store error',
    'no client certificate',
  );
  t.equal(
    await errorOf(EtcdStore.connect(etcd.url, { ...opts, tls, auth: { user: 'vxmesh', passwordFile: wrongPassword } })),
    'store error',
    'a wrong password',
  );
  // Without a password, etcd takes the client certificate's common name as the user (its certificate
  // authentication): the certificate made for vxmesh works alone.
  const byCert = await EtcdStore.connect(etcd.url, { ...opts, tls });
  t.same(
    (await byCert.networks()).map((n) => n.name),
    ['secure'],
    "the certificate alone authenticates its CN's user",
  );
  byCert.close();
  t.equal(
    await errorOf(EtcdStore.connect(etcd.url.replace('etcds://', 'etcd://'), opts)),
    'store error',
    'plaintext to a TLS store',
  );
  const other = await EtcdStore.connect(etcd.url, {
    prefix: '/other/',
    timeoutMs: 3000,
    tls,
    auth: { user: 'vxmesh', passwordFile },
  });
  t.equal(await errorOf(other.networks()), 'store error', "outside the user's prefix: permission denied");
  other.close();
});

t.test('files: a key or password file others may read is refused naming the setting', async (t) => {
  const openKey = path.join(dir, 'open.key');
  fs.copyFileSync(files.clientKey, openKey);
  fs.chmodSync(openKey, 0o644);
  t.equal(
    await errorOf((async () => EtcdStore.open(etcd.url, { ...opts, tls: { ...tls, key: openKey } }))()),
    'field store-key',
  );
  const openPw = path.join(dir, 'open-pw');
  fs.writeFileSync(openPw, 's3cret', { mode: 0o644 });
  fs.chmodSync(openPw, 0o644);
  t.equal(
    await errorOf(
      (async () => EtcdStore.open(etcd.url, { ...opts, tls, auth: { user: 'vxmesh', passwordFile: openPw } }))(),
    ),
    'field store-password-file',
  );
  t.equal(
    await errorOf(
      (async () => EtcdStore.open(etcd.url, { ...opts, tls: { ...tls, ca: path.join(dir, 'missing') } }))(),
    ),
    'field store-ca',
  );
});

t.test('agent settings: what goes together, and TLS files only with etcds://', async (t) => {
  const base = { insecure: true, store: etcd.url };
  const field = (flags: Record<string, string | boolean>) => {
    try {
      loadConfig({ flags: { ...base, ...flags }, env: {} });
      return 'accepted';
    } catch (e) {
      return e instanceof ValidationError ? e.field : String(e);
    }
  };
  t.equal(
    field({
      'store-ca': files.ca,
      'store-cert': files.clientCert,
      'store-key': files.clientKey,
      'store-user': 'vxmesh',
      'store-password-file': passwordFile,
    }),
    'accepted',
  );
  t.equal(field({ 'store-cert': files.clientCert }), 'store-key', 'a certificate without its key');
  t.equal(field({ 'store-user': 'vxmesh' }), 'store-password-file', 'a user without a password file');
  t.equal(field({ store: 'etcd://127.0.0.1:2379', 'store-ca': files.ca }), 'store', 'TLS files with etcd://');
  t.equal(field({ 'store-ca': 'relative.crt' }), '--store-ca', 'not an absolute path');
});
