// Keeps the board store live: a snapshot when the server asks for one (first
// connect, or a gap the event log no longer holds), then pushed events in seq
// order. The GTR's per-advisor figures are re-read after the events that change
// them (push-driven, debounced), never on a timer.
import { useCallback, useEffect, useMemo, useRef } from "react";
import { mensajeDeError, sessionApi } from "../api/sessionApi";
import type { ClienteOut, PushEvent, Resync } from "../api/types";
import { Sequencer } from "../lib/sequencer";
import { useBoardStore } from "../stores/boardStore";
import { useSessionStore } from "../stores/sessionStore";
import { useSocket } from "./useSocket";

const FIGURE_EVENTS = new Set(["CLIENT_IN_GESTION", "CLIENT_COMPLETED", "CLIENT_RETURNED_TO_GTR"]);
/** More unknown clients than this in one event: reload the snapshot instead. */
const MAX_NAME_FETCHES = 20;

export function useLiveBoard(opts: { onEvent?: (e: PushEvent) => void } = {}) {
  const auth = useSessionStore((s) => s.auth);
  const logout = useSessionStore((s) => s.logout);
  const isGtr = auth?.user.role === "gtr";
  const onEventRef = useRef(opts.onEvent);
  onEventRef.current = opts.onEvent;
  const naming = useRef(new Set<number>());
  const figuresTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const refreshFigures = useCallback(() => {
    if (!isGtr) return;
    if (figuresTimer.current) clearTimeout(figuresTimer.current);
    figuresTimer.current = setTimeout(() => {
      sessionApi.asesorStats().then((s) => useBoardStore.getState().setFigures(s.items), () => undefined);
    }, 300);
  }, [isGtr]);

  const nombrar = useCallback((ids: number[]) => {
    for (const id of ids) {
      if (naming.current.has(id)) continue;
      naming.current.add(id);
      sessionApi.cliente(id).then(
        (c) => useBoardStore.getState().setNombre(id, c.nombre),
        () => undefined,
      ).finally(() => naming.current.delete(id));
    }
  }, []);

  const reload = useRef<() => void>(() => undefined);
  const sequencer = useMemo(() => new Sequencer((e) => {
    const store = useBoardStore.getState();
    const unknown = store.apply(e);
    // A CSV import names thousands of clients at once: one snapshot, not a GET
    // each (GTR: neither; its columns are server pages, which carry the names).
    if (unknown.length > MAX_NAME_FETCHES) {
      if (!isGtr) reload.current();
    } else nombrar(unknown);
    // GTR: returns are listed from the server's history (pages/gtr/Alertas.tsx)
    if (FIGURE_EVENTS.has(e.type)) refreshFigures();
    onEventRef.current?.(e);
  }), [isGtr, nombrar, refreshFigures]);

  const loadSnapshot = useCallback(async () => {
    sequencer.loading();
    for (let attempt = 0; ; attempt++) {
      try {
        const board = await sessionApi.board();
        // GTR: the columns read their own pages (search, filters, totals)
        const others: ClienteOut[] = [];
        useBoardStore.getState().setSnapshot(board, others);
        sequencer.loaded(board.seq);
        refreshFigures();
        return;
      } catch (e) {
        if (!useSessionStore.getState().auth) return;
        useBoardStore.getState().avisar("warning", `No se pudo cargar el tablero: ${mensajeDeError(e)}`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
      }
    }
  }, [isGtr, sequencer, refreshFigures]);

  reload.current = () => {
    if (!sequencer.isLoading) void loadSnapshot();
  };

  useEffect(() => {
    useBoardStore.getState().reset();
    if (isGtr) sessionApi.asesores().then((l) => useBoardStore.getState().setAsesores(l), () => undefined);
    return () => {
      if (figuresTimer.current) clearTimeout(figuresTimer.current);
    };
  }, [isGtr, auth?.token]);

  const { state, heartbeat } = useSocket({
    token: auth?.token ?? null,
    lastSeq: () => sequencer.lastSeq,
    onEvent: (e) => sequencer.push(e),
    onResync: (r: Resync) => {
      if (r.status === "snapshot_required") void loadSnapshot();
    },
    onAuthError: (e) =>
      logout({ kind: "error", text: e.error === "token_expired"
        ? "Su sesión expiró; vuelva a iniciar sesión." : "Su sesión no es válida; vuelva a iniciar sesión." }),
  });

  return { state, heartbeat };
}
