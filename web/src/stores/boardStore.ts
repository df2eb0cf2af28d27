// The live board (GTR) or queue (advisor): cards by client id, kept by the
// snapshot plus pushed events only; never polled.
import { create } from "zustand";
import type { AsesorStats, BoardOut, ClienteOut, PushEvent } from "../api/types";
import { applyEvent, type Cards, fromBoardItem, fromCliente } from "../lib/board";
import { localNow } from "../lib/clock";

export interface Aviso {
  id: number;
  kind: "info" | "warning";
  text: string;
  at: number;
}

interface BoardState {
  cards: Cards;
  /** server clock minus local clock, seconds (from the snapshot's `now`) */
  offset: number;
  loaded: boolean;
  /** counts the snapshots loaded (the first, and each one a resync asked for) */
  snapshots: number;
  asesores: Record<number, string>;
  figures: AsesorStats[];
  avisos: Aviso[];
  setSnapshot(board: BoardOut, others: ClienteOut[]): void;
  apply(e: PushEvent): number[];
  setNombre(id: number, nombre: string): void;
  setAsesores(list: { id: number; nombre: string }[]): void;
  setFigures(items: AsesorStats[]): void;
  avisar(kind: Aviso["kind"], text: string): void;
  reset(): void;
}

let avisoSeq = 0;
const MAX_AVISOS = 8;

export const useBoardStore = create<BoardState>()((set, get) => ({
  cards: {},
  offset: 0,
  loaded: false,
  snapshots: 0,
  asesores: {},
  figures: [],
  avisos: [],

  setSnapshot: (board, others) => {
    const cards: Cards = {};
    for (const c of others) cards[c.id] = fromCliente(c);
    for (const item of board.items) cards[item.cliente_id] = fromBoardItem(item, item.started_at ?? board.now);
    set({ cards, offset: board.now - localNow(), loaded: true, snapshots: get().snapshots + 1 });
  },

  apply: (e) => {
    const { cards, unknown } = applyEvent(get().cards, e);
    set({ cards });
    return unknown;
  },

  setNombre: (id, nombre) => {
    const card = get().cards[id];
    if (card) set({ cards: { ...get().cards, [id]: { ...card, nombre } } });
  },

  setAsesores: (list) => set({ asesores: Object.fromEntries(list.map((a) => [a.id, a.nombre])) }),
  setFigures: (items) => set({ figures: items }),

  avisar: (kind, text) =>
    set({ avisos: [{ id: ++avisoSeq, kind, text, at: localNow() }, ...get().avisos].slice(0, MAX_AVISOS) }),

  reset: () => set({ cards: {}, loaded: false, avisos: [], figures: [] }),
}));
