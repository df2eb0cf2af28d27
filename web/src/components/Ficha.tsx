// The advisor's view of one client: the record (what is needed to make the
// call) and its history (every earlier handling, newest first).
import { useEffect, useState } from "react";
import { mensajeDeError, sessionApi } from "../api/sessionApi";
import type { ClienteOut, HistorialOut } from "../api/types";
import { duracion, espera, ESTADO_SESION, RESULTADO_TEXTO } from "../lib/desk";

const cuando = (epoch: number): string =>
  new Date(epoch * 1000).toLocaleString("es-PE", { dateStyle: "short", timeStyle: "short" });

/** Loads the record and the history of `clienteId` (again when `version` changes). */
export function useFicha(clienteId: number | null, version = 0) {
  const [cliente, setCliente] = useState<ClienteOut | null>(null);
  const [historial, setHistorial] = useState<HistorialOut | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setCliente(null);
    setHistorial(null);
    setError(null);
    if (clienteId === null) return;
    let live = true;
    Promise.all([sessionApi.cliente(clienteId), sessionApi.historial(clienteId)]).then(
      ([c, h]) => {
        if (!live) return;
        setCliente(c);
        setHistorial(h);
      },
      (e) => live && setError(mensajeDeError(e)),
    );
    return () => {
      live = false;
    };
  }, [clienteId, version]);
  return { cliente, historial, error };
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // no clipboard permission (or an insecure origin): select-and-copy fallback
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <>
      <button type="button" className="secondary small" onClick={copy} aria-label={label}>Copiar</button>
      <span role="status" className="muted small" data-testid="copiado">{copied ? "Copiado" : ""}</span>
    </>
  );
}

/** The record: name, phone (tel: link, copy), e-mail, document, notes, waiting time. */
export function Ficha({ cliente, historial, error, sessionId }: {
  cliente: ClienteOut | null; historial: HistorialOut | null; error: string | null; sessionId?: string;
}) {
  if (error) return <section className="ficha" aria-label="Ficha del cliente"><p className="notice error" role="alert">No se pudo cargar la ficha: {error}</p></section>;
  if (!cliente || !historial) return <section className="ficha" aria-label="Ficha del cliente"><p className="muted">Cargando ficha…</p></section>;
  const actual = historial.items.find((i) => i.session_id === sessionId);
  const esperado = espera(historial.derivado_at, actual?.started_at ?? null, historial.now);
  return (
    <section className="ficha" aria-labelledby="ficha-title" data-testid="ficha">
      <h2 id="ficha-title">Ficha de {cliente.nombre}</h2>
      <dl className="datos">
        <dt>Teléfono</dt>
        <dd className="telefono">
          <a href={`tel:${cliente.telefono.replace(/[^\d+]/g, "")}`} data-testid="telefono"
            aria-label={`Llamar a ${cliente.nombre} al ${cliente.telefono}`}>{cliente.telefono}</a>
          <CopyButton text={cliente.telefono} label={`Copiar el teléfono ${cliente.telefono}`} />
        </dd>
        <dt>Correo</dt>
        <dd>{cliente.email ? <a href={`mailto:${cliente.email}`}>{cliente.email}</a> : <span className="muted">—</span>}</dd>
        <dt>Documento</dt>
        <dd>{cliente.documento ?? <span className="muted">—</span>}</dd>
        <dt>Espera</dt>
        <dd data-testid="espera">
          {esperado === null ? <span className="muted">—</span>
            : actual ? `esperó ${duracion(esperado)} desde que fue derivado`
              : `${duracion(esperado)} desde que fue derivado`}
        </dd>
        {historial.notas_origen && historial.notas_origen !== cliente.notas && (
          <>
            <dt>Notas de origen</dt>
            <dd className="notas-cliente" data-testid="notas-origen">{historial.notas_origen}</dd>
          </>
        )}
        <dt>{historial.notas_origen && historial.notas_origen !== cliente.notas ? "Últimas notas" : "Notas"}</dt>
        <dd className="notas-cliente" data-testid="notas-cliente">{cliente.notas ?? <span className="muted">Sin notas.</span>}</dd>
      </dl>
    </section>
  );
}

/** Every earlier handling of the client, newest first (the open one left out). */
export function Historial({ historial, sessionId }: { historial: HistorialOut | null; sessionId?: string }) {
  if (!historial) return null;
  const items = historial.items.filter((i) => i.session_id !== sessionId);
  return (
    <section className="historial" aria-labelledby="historial-title" data-testid="historial">
      <h2 id="historial-title">Historial <span className="count">{items.length}</span></h2>
      {items.length === 0 ? <p className="muted">Sin gestiones anteriores.</p> : (
        <ol tabIndex={0} aria-label={`Gestiones anteriores (${items.length})`}>
          {items.map((i) => (
            <li key={i.session_id} data-testid={`historial-${i.session_id}`}>
              <div className="hist-head">
                <strong>{i.resultado ? RESULTADO_TEXTO[i.resultado] : ESTADO_SESION[i.status] ?? i.status}</strong>
                <span className="muted">{cuando(i.started_at)}</span>
              </div>
              <div className="muted">
                {i.asesor_nombre ?? `Asesor #${i.asesor_id}`} · {i.ended_at === null ? "en curso" : `duró ${duracion(i.duration)}`}
              </div>
              {i.notas && <p className="hist-notas">{i.notas}</p>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
