import { describe, expect, it } from "vitest";
import type { PushEvent } from "../api/types";
import { applyEvent, type Cards, columnas, misClientes } from "./board";
import { Sequencer } from "./sequencer";
import { mmss, offsetFrom, secondsLeft, warnAt } from "./clock";

const ev = (over: Partial<PushEvent> & { type: PushEvent["type"]; seq: number }): PushEvent =>
  ({ cliente_id: 1, session_id: null, estado: "derivado", asesor_id: null, deadline: null, ts: 100, ...over }) as PushEvent;

describe("applyEvent", () => {
  it("sets estado, asesor and deadline from the event and names unknown clients", () => {
    const { cards, unknown } = applyEvent({}, ev({ type: "CLIENT_DERIVED", seq: 1, asesor_id: 7 }));
    expect(cards[1]).toMatchObject({ estado: "derivado", asesor_id: 7, nombre: null });
    expect(unknown).toEqual([1]);
  });

  it("is idempotent: the same event twice gives the same board", () => {
    const e = ev({ type: "CLIENT_IN_GESTION", seq: 2, estado: "en_gestion", asesor_id: 7, session_id: "s1", deadline: 500 });
    const once = applyEvent({}, e).cards;
    expect(applyEvent(once, e).cards).toEqual(once);
  });

  it("keeps the name and records why a client came back", () => {
    const start: Cards = { 1: { id: 1, nombre: "Ana", estado: "en_gestion", asesor_id: 7, session_id: "s1", deadline: 500, ts: 1 } };
    const { cards, unknown } = applyEvent(start, ev({
      type: "CLIENT_RETURNED_TO_GTR", seq: 3, estado: "no_gestionado", reason: "timeout", previous_asesor_id: 7,
    } as Partial<PushEvent> & { type: "CLIENT_RETURNED_TO_GTR"; seq: number }));
    expect(cards[1]).toMatchObject({ nombre: "Ana", estado: "no_gestionado", asesor_id: null, deadline: null, reason: "timeout" });
    expect(unknown).toEqual([]);
    expect(columnas(cards).devueltos.map((c) => c.id)).toEqual([1]);
  });

  it("moves deadlines of SESSIONS_EXTENDED only for the session shown", () => {
    const start: Cards = {
      1: { id: 1, nombre: "Ana", estado: "en_gestion", asesor_id: 7, session_id: "s1", deadline: 500, ts: 1 },
      2: { id: 2, nombre: "Luis", estado: "en_gestion", asesor_id: 8, session_id: "s2", deadline: 500, ts: 1 },
    };
    const { cards } = applyEvent(start, {
      seq: 4, type: "SESSIONS_EXTENDED", cliente_id: null, session_id: null, estado: null, asesor_id: null,
      deadline: null, ts: 200, deadlines: { "1": 900, "2": 900 }, sessions: { "1": "s1", "2": "old" }, since: 100,
    });
    expect(cards[1].deadline).toBe(900);
    expect(cards[2].deadline).toBe(500);
  });

  it("adds every id of a CSV import as nuevo", () => {
    const { cards, unknown } = applyEvent({}, ev({ type: "CLIENT_CREATED", seq: 5, cliente_id: null, estado: "nuevo", ids: [3, 4] } as never));
    expect(Object.keys(cards)).toEqual(["3", "4"]);
    expect(unknown).toEqual([3, 4]);
    expect(columnas(cards).nuevo.map((c) => c.id)).toEqual([3, 4]);
  });

  it("an advisor's queue is their derived clients plus the pool", () => {
    const cards: Cards = {
      1: { id: 1, nombre: "a", estado: "derivado", asesor_id: 7, session_id: null, deadline: null, ts: 2 },
      2: { id: 2, nombre: "b", estado: "derivado", asesor_id: null, session_id: null, deadline: null, ts: 1 },
      3: { id: 3, nombre: "c", estado: "derivado", asesor_id: 8, session_id: null, deadline: null, ts: 1 },
      4: { id: 4, nombre: "d", estado: "en_gestion", asesor_id: 7, session_id: "s", deadline: 9, ts: 1 },
    };
    expect(misClientes(cards, 7).map((c) => c.id)).toEqual([2, 1]);
  });
});

describe("Sequencer", () => {
  it("drops duplicates and holds events while a snapshot loads", () => {
    const applied: number[] = [];
    const s = new Sequencer((e) => applied.push(e.seq));
    s.loading();
    expect(s.push(ev({ type: "CLIENT_DERIVED", seq: 10 }))).toBe(false);
    s.push(ev({ type: "CLIENT_DERIVED", seq: 12 }));
    s.push(ev({ type: "CLIENT_DERIVED", seq: 11 }));
    s.loaded(10); // the snapshot already reflects seq 10
    expect(applied).toEqual([11, 12]);
    expect(s.lastSeq).toBe(12);
    expect(s.push(ev({ type: "CLIENT_DERIVED", seq: 12 }))).toBe(false);
    expect(s.push(ev({ type: "CLIENT_DERIVED", seq: 13 }))).toBe(true);
    expect(applied).toEqual([11, 12, 13]);
  });
});

describe("clock", () => {
  it("counts down on the server's clock", () => {
    const offset = offsetFrom(1000, 30, 960); // server is 10 s ahead
    expect(offset).toBe(10);
    expect(secondsLeft(1000, offset, 965)).toBe(25);
    expect(secondsLeft(1000, offset, 2000)).toBe(0);
    expect(secondsLeft(null, offset)).toBeNull();
    expect(mmss(125)).toBe("2:05");
    expect(warnAt(600)).toBe(60);
    expect(warnAt(12)).toBe(4);
  });
});
