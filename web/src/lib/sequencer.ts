// Pushes are applied strictly once and in seq order; while a snapshot loads,
// events are held and then only those after the snapshot's seq are applied.
import type { PushEvent } from "../api/types";

export class Sequencer {
  /** the seq of the last event applied (or of the snapshot): sent as auth.last_seq */
  lastSeq: number | null = null;
  private held: PushEvent[] | null = null;

  constructor(private readonly apply: (e: PushEvent) => void) {}

  /** A snapshot is about to be read: hold events until `loaded`. */
  loading(): void {
    if (this.held === null) this.held = [];
  }

  get isLoading(): boolean {
    return this.held !== null;
  }

  /** The snapshot at `seq` is in place: apply the held events that are newer. */
  loaded(seq: number): void {
    const held = this.held ?? [];
    this.held = null;
    this.lastSeq = seq; // read after loading() began, so not older than anything applied
    held.sort((a, b) => a.seq - b.seq);
    for (const e of held) this.push(e);
  }

  /** A live or replayed event. Returns whether it was applied now. */
  push(e: PushEvent): boolean {
    if (this.held !== null) {
      this.held.push(e);
      return false;
    }
    if (this.lastSeq !== null && e.seq <= this.lastSeq) return false; // a duplicate
    this.lastSeq = e.seq;
    this.apply(e);
    return true;
  }
}
