import { type FormEvent, useState } from "react";
import { gtrApi } from "../../api/gtrApi";
import { ApiError, mensajeDeError } from "../../api/sessionApi";
import type { ClienteIn } from "../../api/types";
import { Dialogo } from "../../components/Dialogo";
import { LIMITE, problemasCliente } from "../../lib/clienteReglas";
import { useBoardStore } from "../../stores/boardStore";

type Campo = "nombre" | "telefono" | "email" | "documento" | "notas";
const CAMPOS: { key: Campo; label: string; required?: boolean; type?: string }[] = [
  { key: "nombre", label: "Nombre", required: true },
  { key: "telefono", label: "Teléfono", required: true, type: "tel" },
  { key: "email", label: "Correo", type: "email" },
  { key: "documento", label: "Documento" },
  { key: "notas", label: "Notas" },
];

export function NuevoCliente({ onClose }: { onClose: () => void }) {
  const avisar = useBoardStore((s) => s.avisar);
  const [v, setV] = useState<Record<Campo, string>>({ nombre: "", telefono: "", email: "", documento: "", notas: "" });
  const [errores, setErrores] = useState<Partial<Record<Campo, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const enviar = async (e: FormEvent) => {
    e.preventDefault();
    setGeneral(null);
    const antes = problemasCliente(v);
    setErrores(antes);
    if (Object.keys(antes).length > 0) return;
    setBusy(true);
    const body: ClienteIn = {
      nombre: v.nombre, telefono: v.telefono,
      email: v.email.trim() || null, documento: v.documento.trim() || null, notas: v.notas.trim() || null,
    };
    try {
      await gtrApi.crearCliente(body);
      avisar("info", `Cliente ${v.nombre.trim()} creado.`);
      onClose();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        const list = (err.details.errors as { field: string; message: string }[] | undefined)
          ?? [{ field: String(err.details.field ?? ""), message: err.message }];
        const out: Partial<Record<Campo, string>> = {};
        for (const x of list) out[x.field as Campo] = x.message;
        setErrores(out);
      } else {
        setGeneral(mensajeDeError(err));
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialogo titulo="Nuevo cliente" onClose={onClose} testId="dialogo-nuevo">
      <form onSubmit={enviar} className="formulario" noValidate>
        {CAMPOS.map((c) => (
          <label key={c.key}>
            <span>{c.label}{c.required ? " *" : ""}</span>
            {c.key === "notas" ? (
              <textarea value={v.notas} maxLength={LIMITE(c.key)} rows={2} aria-invalid={!!errores.notas}
                onChange={(e) => setV({ ...v, notas: e.target.value })} />
            ) : (
              <input type={c.type ?? "text"} value={v[c.key]} maxLength={LIMITE(c.key)} required={c.required}
                aria-invalid={!!errores[c.key]}
                aria-describedby={errores[c.key] ? `err-${c.key}` : undefined}
                onChange={(e) => setV({ ...v, [c.key]: e.target.value })} />
            )}
            {errores[c.key] && <small id={`err-${c.key}`} className="error">{errores[c.key]}</small>}
          </label>
        ))}
        {general && <p className="error" role="alert">{general}</p>}
        <div className="row end">
          <button type="button" className="secondary" onClick={onClose}>Cancelar</button>
          <button type="submit" disabled={busy}>Crear cliente</button>
        </div>
      </form>
    </Dialogo>
  );
}
