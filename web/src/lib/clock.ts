// Deadlines are epoch seconds on the database's clock; the browser's clock may
// differ. The offset (server minus local) comes from any answer that carries
// both a deadline and the seconds left to it, or the board's `now`.
export const localNow = (): number => Date.now() / 1000;

export function offsetFrom(deadline: number, secondsLeft: number, local = localNow()): number {
  return deadline - secondsLeft - local;
}

/** Seconds left to `deadline` now, never negative. */
export function secondsLeft(deadline: number | null, offset: number, local = localNow()): number | null {
  if (deadline === null) return null;
  return Math.max(0, deadline - (local + offset));
}

/** 125 -> "2:05". */
export function mmss(seconds: number | null): string {
  if (seconds === null) return "—";
  const s = Math.ceil(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** When the advisor is warned: a third of the timeout, at most one minute. */
export function warnAt(timeout: number): number {
  return Math.min(60, timeout / 3);
}
