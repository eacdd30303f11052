/**
 * How large a Lamport time or an incarnation a peer may send, and how far one may raise ours. A record
 * or member message above the ceiling is refused where it is decoded; our own clocks are raised from a
 * peer's value at most to a point 2^32 ticks below the ceiling, so that our next write (or refutation)
 * is always one every receiver accepts. The ceiling is absolute (a bound relative to our own clock would
 * make a fresh host, clock 0, refuse the whole cluster) and far below 2^53 (the last safe integer).
 * Incarnations start from the wall clock in seconds (~2^31 today): 2^48 leaves any clock step room.
 */
export const MAX_LAMPORT = 2 ** 48;
export const MAX_INCARNATION = 2 ** 48;
const HEADROOM = 2 ** 32;

/** The highest value a received Lamport time raises our clock to. */
export const LAMPORT_RAISE_CAP = MAX_LAMPORT - HEADROOM;
/** The highest incarnation we take on (a refutation, or a value persisted by an earlier life). */
export const INCARNATION_RAISE_CAP = MAX_INCARNATION - HEADROOM;

export const raisedLamport = (ours: number, received: number): number =>
  Math.max(ours, Math.min(received, LAMPORT_RAISE_CAP));
