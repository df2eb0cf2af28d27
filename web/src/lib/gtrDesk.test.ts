import { describe, expect, it } from "vitest";
import { queryString } from "../api/gtrApi";
import type { ImportRowOut } from "../api/types";
import {
  afectadas, COLUMNAS_GTR, consulta, desdeTexto, edad, hastaMedianoche, lotes, offsetValido, PAGINA, paginaVecina, rango, SIN_FILTROS,
} from "./gtrDesk";

describe("the GTR columns' server queries", () => {
  it("ask the waiting columns for the longest waiting first, the done and returned ones for the newest", () => {
    const orders = Object.fromEntries(COLUMNAS_GTR.map((c) => [c.key, c.order]));
    expect(orders).toEqual({ nuevo: "oldest", derivado: "oldest", en_gestion: "oldest", gestionados: "newest", devueltos: "newest" });
  });

  it("carry the search and the advisor filter to the server", () => {
    const gest = COLUMNAS_GTR.find((c) => c.key === "gestionados")!;
    const q = consulta(gest, { ...SIN_FILTROS, q: "  ana ", asesorId: 7 }, 50);
    expect(queryString(q)).toBe("?q=ana&estados=gestionado%2Ccerrado&asesor_id=7&order=newest&limit=25&offset=50");
    expect(queryString(consulta(gest, SIN_FILTROS, 0))).not.toContain("q=");
  });

  it("know which columns an event may change", () => {
    expect(afectadas("CLIENT_CREATED")).toEqual(["nuevo"]);
    expect(afectadas("CLIENT_IN_GESTION")).toEqual(["derivado", "en_gestion"]);
    expect(afectadas("SESSIONS_EXTENDED")).toEqual([]);
  });
});

describe("paging", () => {
  it("labels the range with the server's total", () => {
    expect(rango(0, 25, 618)).toBe("1–25 de 618");
    expect(rango(0, 0, 0)).toBe("0 de 0");
    expect(rango(9975, 25, 10000)).toMatch(/^9.?976–10.?000 de 10.?000$/);
  });

  it("stops at both ends", () => {
    expect(paginaVecina(0, 618, -1)).toBeNull();
    expect(paginaVecina(0, 618, 1)).toBe(PAGINA);
    expect(paginaVecina(600, 618, 1)).toBeNull();
    expect(paginaVecina(0, 25, 1)).toBeNull();
  });

  it("moves back to the last page when the total shrank under the offset", () => {
    expect(offsetValido(50, 51)).toBe(50);
    expect(offsetValido(50, 50)).toBe(25);
    expect(offsetValido(75, 3)).toBe(0);
    expect(offsetValido(0, 0)).toBe(0);
  });
});

describe("waiting ages", () => {
  it("read like a supervisor speaks", () => {
    expect(edad(null)).toBe("—");
    expect(edad(-3)).toBe("<1 min");
    expect(edad(42)).toBe("<1 min");
    expect(edad(750)).toBe("12 min");
    expect(edad(11100)).toBe("3 h 05 min");
    expect(edad(190000)).toBe("2 d 4 h");
  });

  it("say since when: the time today, the date before", () => {
    const at = new Date(2026, 10, 30, 9, 5).getTime() / 1000;
    expect(desdeTexto(at, at + 3600)).toMatch(/^09:05$/);
    expect(desdeTexto(at - 2 * 86400, at)).toMatch(/^28\/11 09:05$/);
  });

  it("wake at the server's midnight, never in the past", () => {
    expect(hastaMedianoche(1000, 0, 990)).toBe(10_500);
    expect(hastaMedianoche(1000, 5, 990)).toBe(5_500); // the server is 5 s ahead
    expect(hastaMedianoche(1000, 0, 2000)).toBe(1000);
  });
});

describe("a checked import's batches", () => {
  const rows: ImportRowOut[] = Array.from({ length: 7 }, (_, i) => ({
    line: i + 2, nombre: `N${i}`, telefono: `9${i}`, email: null, documento: null, notas: null,
  }));

  it("skip the chosen lines and split the rest", () => {
    const out = lotes(rows, new Set([3, 5]), 2);
    expect(out.map((l) => l.map((r) => r.nombre))).toEqual([["N0", "N2"], ["N4", "N5"], ["N6"]]);
    expect(out[0][0]).toEqual({ nombre: "N0", telefono: "90", email: null, documento: null, notas: null });
  });

  it("make no batch when nothing is left", () => {
    expect(lotes(rows, new Set(rows.map((r) => r.line)))).toEqual([]);
  });
});

describe("import problems in Spanish", async () => {
  const { problemaEs } = await import("../pages/gtr/Importar");
  it("drop the repeated line number and translate the field rules", () => {
    expect(problemaEs("line 42: nombre is required")).toBe("obligatorio");
    expect(problemaEs("line 3: telefono must be a phone number")).toMatch(/^no es un teléfono/);
    expect(problemaEs("line 9: notas is longer than 5000 characters")).toBe("más de 5000 caracteres");
    expect(problemaEs("line 4 has too many values")).toBe("más valores que columnas");
    expect(problemaEs("something new")).toBe("something new");
  });
});
