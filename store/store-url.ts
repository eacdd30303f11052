/** The store URL setting, parsed without loading the etcd client (the config is read by every agent). */
import { ValidationError } from '../core/errors.js';

/** `etcd://HOST:PORT[,HOST:PORT...]` (or `http://`) → client endpoints; `etcds://` (or `https://`): TLS. */
export function parseStoreUrl(text: unknown, field = 'store'): string[] {
  if (typeof text !== 'string' || text === '')
    throw new ValidationError(field, 'must be etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS)');
  const m = /^(etcds?|https?):\/\/(.+)$/.exec(text);
  if (!m)
    throw new ValidationError(field, `"${text}" must start with etcd:// or etcds:// (e.g. etcds://198.51.100.11:2379)`);
  const scheme = m[1] === 'etcds' || m[1] === 'https' ? 'https' : 'http';
  return (m[2] as string).split(',').map((hp, i) => {
    const hm = /^([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]+\]):([0-9]{1,5})$/.exec(hp);
    const port = Number(hm?.[2]);
    if (!hm || port < 1 || port > 65535)
      throw new ValidationError(field, `endpoint ${i + 1} "${hp}" must be HOST:PORT`);
    return `${scheme}://${hm[1]}:${port}`;
  });
}
