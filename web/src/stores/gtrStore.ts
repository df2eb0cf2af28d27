// The supervisor's board columns: one server page per column (search and
// filters applied by the server), with the server's total. Pages are read
// again when an event may change them; answers to stale requests are dropped.
import { create } from "zustand";
import { gtrApi } from "../api/gtrApi";
import type { Alerta, ClienteOut, ResumenOut } from "../api/types";
import type { Columna } from "../lib/board";
import { COLUMNAS_GTR, consulta, type Filtros, offsetValido, SIN_FILTROS } from "../lib/gtrDesk";

export interface Pagina {
  offset: number;
  items: ClienteOut[];
  total: number;
  loaded: boolean;
  error: string | null;
}

const vacia = (): Pagina => ({ offset: 0, items: [], total: 0, loaded: false, error: null });
const todas = (): Record<Columna, Pagina> => ({
  nuevo: vacia(), derivado: vacia(), en_gestion: vacia(), gestionados: vacia(), devueltos: vacia(),
});

interface GtrState {
  filtros: Filtros;
  paginas: Record<Columna, Pagina>;
  resumen: ResumenOut | null;
  /** the latest returns to GTR (server history: survives a reload), newest first */
  alertas: Alerta[];
  /** returns that arrived since the supervisor last looked (tab title, sound) */
  sinVer: number;
  /** the newest alert id already known (null: not loaded yet) */
  ultimaAlerta: number | null;
  /** reads the list again; returns the alerts that are new since the last read */
  cargarAlertas(): Promise<Alerta[]>;
  verAlertas(): void;
  /** the cards ticked for a bulk derive, by id */
  seleccion: Record<number, true>;
  marcar(id: number, on: boolean): void;
  limpiarSeleccion(): void;
  setFiltros(f: Partial<Filtros>): void;
  irA(col: Columna, offset: number): Promise<void>;
  cargar(col: Columna): Promise<void>;
  cargarTodas(): Promise<void>;
  cargarResumen(): Promise<void>;
  reset(): void;
}

const pedidos: Record<string, number> = {};

export const useGtrStore = create<GtrState>()((set, get) => ({
  filtros: SIN_FILTROS,
  paginas: todas(),
  resumen: null,
  seleccion: {},
  alertas: [],
  sinVer: 0,
  ultimaAlerta: null,

  cargarAlertas: async () => {
    let items: Alerta[];
    try {
      items = (await gtrApi.alertas()).items;
    } catch {
      return [];
    }
    const antes = get().ultimaAlerta;
    const nuevas = antes === null ? [] : items.filter((a) => a.id > antes);
    const ultima = items.reduce((m, a) => Math.max(m, a.id), antes ?? 0);
    set({ alertas: items, ultimaAlerta: ultima, sinVer: get().sinVer + nuevas.length });
    return nuevas;
  },
  verAlertas: () => set({ sinVer: 0 }),

  marcar: (id, on) => {
    const seleccion = { ...get().seleccion };
    if (on) seleccion[id] = true;
    else delete seleccion[id];
    set({ seleccion });
  },
  limpiarSeleccion: () => set({ seleccion: {} }),

  setFiltros: (f) => {
    const filtros = { ...get().filtros, ...f };
    const paginas = { ...get().paginas };
    for (const k of Object.keys(paginas) as Columna[]) paginas[k] = { ...paginas[k], offset: 0 };
    set({ filtros, paginas });
    void get().cargarTodas();
  },

  irA: async (col, offset) => {
    set({ paginas: { ...get().paginas, [col]: { ...get().paginas[col], offset } } });
    await get().cargar(col);
  },

  cargar: async (col) => {
    const def = COLUMNAS_GTR.find((c) => c.key === col)!;
    const n = (pedidos[col] = (pedidos[col] ?? 0) + 1);
    const { filtros } = get();
    const offset = get().paginas[col].offset;
    try {
      let page = await gtrApi.buscar(consulta(def, filtros, offset));
      const fixed = offsetValido(offset, page.total);
      if (fixed !== offset) page = await gtrApi.buscar(consulta(def, filtros, fixed));
      if (pedidos[col] !== n) return; // a newer request owns this column
      set({ paginas: { ...get().paginas, [col]: {
        offset: fixed, items: page.items, total: page.total, loaded: true, error: null,
      } } });
    } catch (e) {
      if (pedidos[col] !== n) return;
      const error = e instanceof Error ? e.message : String(e);
      set({ paginas: { ...get().paginas, [col]: { ...get().paginas[col], loaded: true, error } } });
    }
  },

  cargarTodas: async () => {
    await Promise.all(COLUMNAS_GTR.map((c) => get().cargar(c.key)));
  },

  cargarResumen: async () => {
    try {
      set({ resumen: await gtrApi.resumen() });
    } catch {
      /* the next event or reload reads it again */
    }
  },

  reset: () => set({
    filtros: SIN_FILTROS, paginas: todas(), resumen: null, seleccion: {}, alertas: [], sinVer: 0, ultimaAlerta: null,
  }),
}));
