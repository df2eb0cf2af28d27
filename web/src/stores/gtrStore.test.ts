import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Alerta, ClienteList } from "../api/types";

const buscar = vi.fn<(p: { offset?: number; q?: string; estados?: string[] }) => Promise<ClienteList>>();
const alertas = vi.fn<() => Promise<{ items: Alerta[]; now: number }>>();
vi.mock("../api/gtrApi", () => ({ gtrApi: { buscar: (p: never) => buscar(p), resumen: vi.fn(), alertas: () => alertas() } }));

const { useGtrStore } = await import("./gtrStore");

const page = (total: number, offset: number, ids: number[]): ClienteList => ({
  total, offset, limit: 25,
  items: ids.map((id) => ({
    id, nombre: `C${id}`, telefono: "1", email: null, documento: null, notas: null, estado: "nuevo",
    asesor_asignado: null, session_id: null, lock_token: 0, created_at: null, updated_at: 100,
  })),
});

describe("gtrStore", () => {
  beforeEach(() => {
    buscar.mockReset();
    useGtrStore.getState().reset();
  });
  afterEach(() => vi.useRealTimers());

  it("keeps the server's total and page for a column", async () => {
    buscar.mockResolvedValue(page(618, 0, [1, 2]));
    await useGtrStore.getState().cargar("nuevo");
    const p = useGtrStore.getState().paginas.nuevo;
    expect(p).toMatchObject({ total: 618, offset: 0, loaded: true, error: null });
    expect(p.items.map((c) => c.id)).toEqual([1, 2]);
  });

  it("drops the answer of a request that a newer one overtook", async () => {
    let first!: (v: ClienteList) => void;
    buscar.mockImplementationOnce(() => new Promise((r) => { first = r; }));
    buscar.mockResolvedValueOnce(page(5, 0, [9]));
    const a = useGtrStore.getState().cargar("nuevo");
    await useGtrStore.getState().cargar("nuevo");
    first(page(1, 0, [1]));
    await a;
    expect(useGtrStore.getState().paginas.nuevo.items.map((c) => c.id)).toEqual([9]);
  });

  it("moves back a page when the total shrank under it", async () => {
    useGtrStore.setState({ paginas: { ...useGtrStore.getState().paginas, nuevo: { ...useGtrStore.getState().paginas.nuevo, offset: 50 } } });
    buscar.mockResolvedValueOnce(page(30, 50, []));
    buscar.mockResolvedValueOnce(page(30, 25, [26, 27, 28, 29, 30]));
    await useGtrStore.getState().cargar("nuevo");
    expect(buscar.mock.calls[1][0].offset).toBe(25);
    expect(useGtrStore.getState().paginas.nuevo).toMatchObject({ offset: 25, total: 30 });
  });

  it("sends a new search to every column from the first page", async () => {
    buscar.mockResolvedValue(page(0, 0, []));
    useGtrStore.setState({ paginas: { ...useGtrStore.getState().paginas, devueltos: { ...useGtrStore.getState().paginas.devueltos, offset: 75 } } });
    useGtrStore.getState().setFiltros({ q: "ana" });
    await vi.waitFor(() => expect(buscar).toHaveBeenCalledTimes(5));
    for (const [p] of buscar.mock.calls) expect(p).toMatchObject({ q: "ana", offset: 0 });
  });

  it("shows an error in the column instead of failing silently", async () => {
    buscar.mockRejectedValue(new Error("No hay conexión con el servidor."));
    await useGtrStore.getState().cargar("derivado");
    expect(useGtrStore.getState().paginas.derivado.error).toBe("No hay conexión con el servidor.");
  });

  it("keeps the bulk selection by id until cleared", () => {
    const s = useGtrStore.getState();
    s.marcar(3, true);
    s.marcar(5, true);
    s.marcar(3, false);
    expect(Object.keys(useGtrStore.getState().seleccion)).toEqual(["5"]);
    useGtrStore.getState().limpiarSeleccion();
    expect(useGtrStore.getState().seleccion).toEqual({});
  });

  it("counts the returns that arrive after the first read, until seen", async () => {
    const a = (id: number): Alerta => ({
      id, cliente_id: id, nombre: `C${id}`, reason: "timeout", at: id, asesor_id: null, asesor_nombre: null,
    });
    alertas.mockResolvedValueOnce({ items: [a(5), a(4)], now: 9 });
    expect(await useGtrStore.getState().cargarAlertas()).toEqual([]); // history is not news
    alertas.mockResolvedValueOnce({ items: [a(7), a(6), a(5), a(4)], now: 9 });
    expect((await useGtrStore.getState().cargarAlertas()).map((x) => x.id)).toEqual([7, 6]);
    expect(useGtrStore.getState()).toMatchObject({ sinVer: 2, ultimaAlerta: 7 });
    expect(useGtrStore.getState().alertas.map((x) => x.id)).toEqual([7, 6, 5, 4]);
    useGtrStore.getState().verAlertas();
    expect(useGtrStore.getState().sinVer).toBe(0);
  });
});
