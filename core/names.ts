/** Names of hosts, networks and record owners: one rule everywhere (CLI, admin API, wire, config). */
import { ValidationError } from './errors.js';

/** 1-63 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const NAME_RULE = 'must be 1-63 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)';

export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME_PATTERN.test(value);
}

/** A host or network name, or throws naming `field`. */
export function parseName(value: unknown, field = 'name'): string {
  if (!isName(value)) throw new ValidationError(field, NAME_RULE);
  return value;
}
