/**
 * This host's WireGuard key pair (X25519, as `wg genkey` makes it): the private key in the state
 * directory (`wireguard.key`, base64, owner-only, never logged), the public key announced in the
 * signed member statement (key 8) with the tunnel address (key 9, core/tunnel-address.ts). Made with
 * node:crypto: no `wg` needed to have one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFileAtomic } from '../core/atomic-file.js';
import { ValidationError } from '../core/errors.js';
import { checkSecretFile } from '../core/secret-file.js';

export interface WireguardIdentity {
  /** base64 of the 32-byte private key (what `wg set ... private-key FILE` reads). */
  privateKey: string;
  /** base64 of the 32-byte public key. */
  publicKey: string;
  file: string;
}

const b64 = (b64url: string) => Buffer.from(b64url, 'base64url').toString('base64');

/** The public key of a base64 private key (what `wg pubkey` prints). */
export function wireguardPublicKey(privateKey: string): string {
  const raw = Buffer.from(privateKey, 'base64');
  if (raw.length !== 32) throw new ValidationError('wireguard-key', 'a WireGuard key is 32 bytes in base64');
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: raw.toString('base64url'), x: '' },
    format: 'jwk',
  });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return b64(jwk.x as string);
}

export function loadOrCreateWireguardKey(stateDir: string): WireguardIdentity {
  const file = path.join(stateDir, 'wireguard.key');
  if (fs.existsSync(file)) {
    checkSecretFile(file, 'stateDir');
    const privateKey = fs.readFileSync(file, 'utf8').trim();
    try {
      return { privateKey, publicKey: wireguardPublicKey(privateKey), file };
    } catch (e) {
      throw new ValidationError('stateDir', `${file} is not a WireGuard private key: ${(e as Error).message}`);
    }
  }
  const { privateKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d as string;
  const text = b64(d);
  writeFileAtomic(file, `${text}\n`);
  return { privateKey: text, publicKey: wireguardPublicKey(text), file };
}
