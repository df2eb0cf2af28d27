import { describe, expect, it } from "vitest";
import { LIMITE, problemasCliente } from "./clienteReglas";

describe("the client form's rules (from the served contract)", () => {
  it("accepts what the API accepts", () => {
    expect(problemasCliente({ nombre: "Ana", telefono: "+51 (900) 111-222", email: "", documento: "", notas: "" })).toEqual({});
    expect(problemasCliente({ nombre: "Ana", telefono: "1", email: "a@b" })).toEqual({});
  });

  it("names every field the API would refuse", () => {
    expect(problemasCliente({ nombre: " ", telefono: "llamar", email: "sin-arroba" })).toEqual({
      nombre: "Obligatorio.", telefono: "Solo dígitos, espacios y + - ( ) .", email: "Debe contener @.",
    });
    expect(problemasCliente({ nombre: "x".repeat(161), telefono: "1" })).toEqual({ nombre: "Hasta 160 caracteres." });
  });

  it("reads the limits of the columns", () => {
    expect([LIMITE("nombre"), LIMITE("telefono"), LIMITE("email"), LIMITE("notas")]).toEqual([160, 32, 160, 5000]);
  });
});
