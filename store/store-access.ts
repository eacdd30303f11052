/**
 * How the agent proves itself to etcd and checks etcd: TLS (etcds://) with a CA file (else the
 * system's CAs) and optionally a client certificate and key; user and password (the password read
 * from a file). Files are read at start, each error naming its setting; the key and password files
 * must be owner-only and this user's (core/secret-file.ts).
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { IOptions } from 'etcd3';
import { ValidationError } from '../core/errors.js';
import { checkSecretFile } from '../core/secret-file.js';

/** TLS and authentication settings of the store client. */
export interface StoreAccessOptions {
  /** etcds://: files of the CA (default: the system's CAs), the client certificate and its key. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** etcd authentication: the user and the file holding its password. */
  auth?: { user: string; passwordFile: string };
}

function read(file: string, field: string, secret = false): Buffer {
  if (secret) checkSecretFile(file, field);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ValidationError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** The etcd client's credentials and auth options for these endpoints and settings. */
export function storeAccess(endpoints: string[], opts: StoreAccessOptions): Pick<IOptions, 'credentials' | 'auth'> {
  const out: Pick<IOptions, 'credentials' | 'auth'> = {};
  const secure = endpoints.every((e) => e.startsWith('https://'));
  if (opts.tls && !secure) throw new ValidationError('store', 'TLS files given for an etcd:// store: use etcds://');
  if (secure) {
    const t = opts.tls ?? {};
    if ((t.cert === undefined) !== (t.key === undefined))
      throw new ValidationError(
        t.cert === undefined ? 'store-cert' : 'store-key',
        'a client certificate and its key go together',
      );
    out.credentials = {
      rootCertificate: t.ca !== undefined ? read(t.ca, 'store-ca') : Buffer.from(tls.rootCertificates.join('\n')),
      ...(t.cert !== undefined && t.key !== undefined
        ? { certChain: read(t.cert, 'store-cert'), privateKey: read(t.key, 'store-key', true) }
        : {}),
    };
  }
  if (opts.auth) {
    const password = read(opts.auth.passwordFile, 'store-password-file', true)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (password === '') throw new ValidationError('store-password-file', `${opts.auth.passwordFile} is empty`);
    out.auth = { username: opts.auth.user, password };
  }
  return out;
}
