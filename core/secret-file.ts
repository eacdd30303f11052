/**
 * A file holding a secret (the cluster key, the peer key, etcd client keys and passwords) must be
 * this user's and readable by nobody else: a file another user owns could be swapped or read by them.
 */
import fs from 'node:fs';
import { ValidationError } from './errors.js';

/** Throws a ValidationError naming `field` unless `file` is owned by this process's user with no group or other access. */
export function checkSecretFile(file: string, field: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new ValidationError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new ValidationError(
      field,
      `${file} has mode ${mode.toString(8).padStart(4, '0')}: its group or others may read it; make it owner-only (chmod 600 ${file}) and consider the secret leaked if others did read it`,
    );
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new ValidationError(
      field,
      `${file} is owned by uid ${st.uid}, not by this process's user (uid ${uid}): chown ${uid} ${file}, after checking who wrote it`,
    );
}
