import { describe, expect, it } from "vitest";
import { duracion, espera, hasContent, isIdle, motivoDevolucion, tituloConAvisos } from "./desk";

describe("desk logic", () => {
  it("idle detection is off at IDLE_AFTER=0 and exact at the threshold", () => {
    expect(isIdle(0, 1e9, 0)).toBe(false);
    expect(isIdle(100, 399.9, 300)).toBe(false);
    expect(isIdle(100, 400, 300)).toBe(true);
  });

  it("a draft is worth keeping once something is chosen or typed", () => {
    expect(hasContent({ resultado: "", notas: "  \n" })).toBe(false);
    expect(hasContent({ resultado: "cerrado", notas: "" })).toBe(true);
    expect(hasContent({ resultado: "", notas: "x" })).toBe(true);
  });

  it("a timeout says what it was: a lost connection, an idle console, or no activity", () => {
    expect(motivoDevolucion("timeout", { netLost: true, idle: false })).toMatch(/conexión/);
    expect(motivoDevolucion("timeout", { netLost: false, idle: true })).toMatch(/inactiva/);
    expect(motivoDevolucion("timeout", { netLost: false, idle: false })).toBe("se agotó el tiempo sin actividad");
    expect(motivoDevolucion("released", { netLost: true, idle: true })).toBe("GTR liberó la gestión");
  });

  it("waiting and handling times read in words", () => {
    expect(duracion(42)).toBe("42 s");
    expect(duracion(125)).toBe("2 min");
    expect(duracion(3900)).toBe("1 h 5 min");
    expect(duracion(7200)).toBe("2 h");
    expect(duracion(90000)).toBe("1 d 1 h");
    expect(duracion(null)).toBe("—");
    expect(espera(100, 160, 1000)).toBe(60);
    expect(espera(100, null, 1000)).toBe(900);
    expect(espera(null, 160, 1000)).toBeNull();
    expect(tituloConAvisos("ALBRU", 0)).toBe("ALBRU");
    expect(tituloConAvisos("ALBRU", 3)).toBe("(3) ALBRU");
  });
});
