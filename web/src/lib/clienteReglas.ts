// The client form checks what the server will: the request schema of
// POST /api/clientes from the served contract (web/openapi.json, generated
// from domain/clientes.py), so the rules are not written a second time. The
// server still has the last word (and trims).
import contract from "../../openapi.json";

interface Prop { maxLength?: number; minLength?: number; pattern?: string; anyOf?: Prop[] }
const schema = contract.components.schemas.ClienteIn as unknown as {
  properties: Record<string, Prop>; required: string[];
};

const FORMATO: Record<string, string> = {
  nombre: "Escriba el nombre.",
  telefono: "Solo dígitos, espacios y + - ( ) .",
  email: "Debe contener @.",
};

/** The rule of one field (a nullable field's string branch). */
function regla(field: string): Prop {
  const p = schema.properties[field] ?? {};
  return p.anyOf?.find((x) => x.maxLength !== undefined || x.pattern !== undefined) ?? p;
}

export const LIMITE = (field: string): number | undefined => regla(field).maxLength;

/** Spanish problems by field, empty when the server would accept the values. */
export function problemasCliente(v: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of Object.keys(schema.properties)) {
    const value = v[field] ?? "";
    const r = regla(field);
    if (!value.trim()) {
      if (schema.required.includes(field)) out[field] = "Obligatorio.";
      continue;
    }
    if (r.maxLength !== undefined && value.length > r.maxLength) out[field] = `Hasta ${r.maxLength} caracteres.`;
    else if (r.pattern && !new RegExp(r.pattern, "u").test(value)) out[field] = FORMATO[field] ?? "Formato no válido.";
  }
  return out;
}
