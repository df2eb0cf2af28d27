import { mmss, secondsLeft } from "../lib/clock";
import { useSessionStore } from "../stores/sessionStore";

/** Seconds left to a deadline on the server's clock, live. */
export function Countdown({ deadline, offset, warn }: { deadline: number | null; offset: number; warn: number }) {
  const now = useSessionStore((s) => s.now);
  const left = secondsLeft(deadline, offset, now);
  const cls = left === null ? "" : left <= 0 ? "late" : left <= warn ? "warn" : "ok";
  return (
    <span className={`countdown ${cls}`} data-testid="countdown" aria-label={`Quedan ${mmss(left)}`}>
      {mmss(left)}
    </span>
  );
}
