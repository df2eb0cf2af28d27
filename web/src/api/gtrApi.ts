// The supervisor's desk endpoints (search and pages, counts, checked import,
// users admin): one typed method each, through sessionApi's `request`.
import { request } from "./sessionApi";
import type {
  AdminUserIn, AlertasOut, AdminUserOut, ClienteIn, ClienteList, Estado, ImportCheckOut, ImportOut, PresenceOut, ResumenOut,
} from "./types";

export interface Busqueda {
  q?: string;
  estados?: Estado[];
  asesor_id?: number;
  order?: "id" | "oldest" | "newest";
  limit?: number;
  offset?: number;
}

export function queryString(p: Busqueda): string {
  const s = new URLSearchParams();
  if (p.q && p.q.trim()) s.set("q", p.q.trim());
  if (p.estados && p.estados.length) s.set("estados", p.estados.join(","));
  if (p.asesor_id !== undefined) s.set("asesor_id", String(p.asesor_id));
  if (p.order) s.set("order", p.order);
  if (p.limit !== undefined) s.set("limit", String(p.limit));
  if (p.offset !== undefined) s.set("offset", String(p.offset));
  const out = s.toString();
  return out ? `?${out}` : "";
}

export const gtrApi = {
  buscar: (p: Busqueda) => request<ClienteList>("GET", `/clientes${queryString(p)}`),
  resumen: () => request<ResumenOut>("GET", "/clientes/resumen"),
  crearCliente: (body: ClienteIn) => request<unknown>("POST", "/clientes", body),
  revisarCsv: (csv: string) => request<ImportCheckOut>("POST", "/clientes/import/check", csv, true, "text/csv"),
  crearLote: (clientes: ClienteIn[]) => request<ImportOut>("POST", "/clientes/lote", { clientes }),
  derivarVarios: (ids: number[], asesorId: number | null) =>
    request<{ derived: number[]; failed: { cliente_id: number; error: string; message: string }[] }>(
      "POST", "/clientes/derivar", asesorId === null ? { ids } : { ids, asesor_id: asesorId }),
  alertas: (limit = 30) => request<AlertasOut>("GET", `/alertas?limit=${limit}`),
  presencia: () => request<PresenceOut>("GET", "/presence"),
  usuarios: () => request<AdminUserOut[]>("GET", "/users"),
  crearUsuario: (body: AdminUserIn) => request<AdminUserOut>("POST", "/users", body),
  nuevaClave: (id: number, password: string) => request<AdminUserOut>("POST", `/users/${id}/password`, { password }),
  desactivar: (id: number) => request<AdminUserOut>("POST", `/users/${id}/deactivate`),
  activar: (id: number) => request<AdminUserOut>("POST", `/users/${id}/activate`),
};
