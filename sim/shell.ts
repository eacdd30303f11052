/**
 * zx runs each command as `bash -c` with a socket for stdin; bash takes that for a remote shell and, at
 * shell level 1, reads the user's ~/.bashrc first (whatever a host's user put there: a version manager
 * there made every command of a run take its lock, the machine's load at 50). At level 2 and above it
 * reads nothing: the level our processes pass on is made at least 1.
 */
export function plainShells(): void {
  if (!(Number(process.env.SHLVL) >= 1)) process.env.SHLVL = '1';
}
