/**
 * Durations on this host are measured on a monotonic clock: a step of the wall clock (an NTP step of
 * an hour, a clock set by hand) must not expire a tombstone early, keep a settle period waiting an
 * hour, or make a member look silent. `monotonicMs` counts milliseconds like `Date.now()` (it starts at
 * the wall clock of the process's start) but never steps. Only for durations within this process:
 * never persisted, never sent to another host.
 */
export const monotonicMs = (): number => performance.timeOrigin + performance.now();
