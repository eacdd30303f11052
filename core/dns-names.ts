/**
 * Endpoint names for DNS (issue 13): a name and aliases are DNS labels — 1-63 characters of a-z 0-9 -,
 * starting and ending with a letter or digit (RFC 1123), compared without case and stored in lower
 * case. One rule for the CLI, the admin API, the Docker plugin and the wire.
 */
import { ValidationError } from './errors.js';

export const DNS_LABEL_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const DNS_LABEL_RULE =
  'must be a DNS label: 1-63 characters of a-z 0-9 - (letters in any case), starting and ending with a letter or digit';
export const MAX_ALIASES = 16;

/** A DNS label in lower case, or throws naming `field`. */
export function parseDnsLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || !DNS_LABEL_PATTERN.test(value.toLowerCase()))
    throw new ValidationError(field, `${JSON.stringify(value)} ${DNS_LABEL_RULE}`);
  return value.toLowerCase();
}

/** Aliases: a list (or one) of DNS labels, duplicates dropped, at most MAX_ALIASES. */
export function parseAliases(value: unknown, field = 'aliases'): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  if (list.length > MAX_ALIASES) throw new ValidationError(field, `at most ${MAX_ALIASES} aliases`);
  return [...new Set(list.map((v, i) => parseDnsLabel(v, `${field}[${i}]`)))];
}
