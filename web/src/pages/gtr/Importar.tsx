import { type DragEvent, useMemo, useState } from "react";
import { gtrApi } from "../../api/gtrApi";
import { mensajeDeError } from "../../api/sessionApi";
import type { ImportCheckOut } from "../../api/types";
import { lotes } from "../../lib/gtrDesk";

const MOSTRAR = 100;
const CAMPO: Record<string, string> = {
  nombre: "nombre", telefono: "teléfono", email: "correo", documento: "documento", notas: "notas", file: "archivo",
};

/** The server's line problem, in Spanish and without the "line N:" it repeats. */
export function problemaEs(message: string): string {
  const m = message.replace(/^line \d+:?\s*/, "");
  const largo = /longer than (\d+)/.exec(m);
  if (largo) return `más de ${largo[1]} caracteres`;
  if (/is required/.test(m)) return "obligatorio";
  if (/must be a phone number/.test(m)) return "no es un teléfono (solo dígitos, espacios y + - ( ) .)";
  if (/is not an address/.test(m)) return "el correo no tiene @";
  if (/has too many values|too many values/.test(m)) return "más valores que columnas";
  if (/never closed/.test(m)) return "unas comillas no se cierran";
  if (/at most \d+ clients/.test(m)) return "más de 10 000 clientes en el archivo";
  return m;
}

type Fase = { k: "inicio" } | { k: "revisando" } | { k: "revisado" } | { k: "importando"; hechos: number; total: number }
  | { k: "hecho"; creados: number } | { k: "error"; texto: string; creados: number };

/** CSV intake: check the whole file on the server first (nothing written), show
 * every bad line and every duplicate, a preview, then create in batches. */
export function Importar() {
  const [archivo, setArchivo] = useState<string | null>(null);
  const [check, setCheck] = useState<ImportCheckOut | null>(null);
  const [omitirDup, setOmitirDup] = useState(true);
  const [fase, setFase] = useState<Fase>({ k: "inicio" });
  const [sobre, setSobre] = useState(false);

  const dupLines = useMemo(() => new Set((check?.duplicates ?? []).map((d) => d.line)), [check]);
  const plan = useMemo(() => (check ? lotes(check.rows, omitirDup ? dupLines : new Set()) : []), [check, omitirDup, dupLines]);
  const aCrear = plan.reduce((n, l) => n + l.length, 0);

  const leer = async (file: File | undefined) => {
    if (!file) return;
    setArchivo(file.name);
    setCheck(null);
    setFase({ k: "revisando" });
    try {
      setCheck(await gtrApi.revisarCsv(await file.text()));
      setFase({ k: "revisado" });
    } catch (e) {
      setFase({ k: "error", texto: mensajeDeError(e), creados: 0 });
    }
  };
  const soltar = (e: DragEvent) => {
    e.preventDefault();
    setSobre(false);
    void leer(e.dataTransfer.files[0]);
  };
  const importar = async () => {
    let creados = 0;
    setFase({ k: "importando", hechos: 0, total: aCrear });
    for (const lote of plan) {
      try {
        creados += (await gtrApi.crearLote(lote)).imported;
      } catch (e) {
        setFase({ k: "error", texto: mensajeDeError(e), creados });
        return;
      }
      setFase({ k: "importando", hechos: creados, total: aCrear });
    }
    setFase({ k: "hecho", creados });
    setCheck(null);
  };

  return (
    <main className="importar" aria-labelledby="importar-title">
      <h2 id="importar-title">Importar clientes desde CSV</h2>
      <div className={`soltar${sobre ? " sobre" : ""}`} onDragOver={(e) => { e.preventDefault(); setSobre(true); }}
        onDragLeave={() => setSobre(false)} onDrop={soltar} data-testid="soltar">
        <p>Arrastre aquí un archivo CSV (UTF-8) o elíjalo:</p>
        <label className="archivo">
          <span>Archivo CSV</span>
          <input type="file" accept=".csv,text/csv" onChange={(e) => void leer(e.target.files?.[0])}
            disabled={fase.k === "importando"} />
        </label>
        <p className="muted">Cabecera: <code>nombre,telefono[,email,documento,notas]</code>; hasta 10 000 clientes.
          Nada se escribe hasta que pulse «Importar».</p>
      </div>

      {fase.k === "revisando" && <p role="status">Revisando {archivo}…</p>}
      {fase.k === "error" && (
        <p className="notice error" role="alert">
          {fase.texto}{fase.creados > 0 && ` Se crearon ${fase.creados} clientes antes del error.`}
        </p>
      )}
      {fase.k === "hecho" && <p className="notice info" role="status" data-testid="importado">Importados {fase.creados.toLocaleString("es-PE")} clientes.</p>}
      {fase.k === "importando" && (
        <div className="progreso">
          <label htmlFor="progreso-import">Importando {fase.hechos.toLocaleString("es-PE")} de {fase.total.toLocaleString("es-PE")}…</label>
          <progress id="progreso-import" value={fase.hechos} max={fase.total} data-testid="progreso" />
        </div>
      )}

      {check && fase.k !== "importando" && (
        <section aria-labelledby="revision-title" className="revision" data-testid="revision">
          <h3 id="revision-title">Revisión de {archivo}</h3>
          <ul className="resumen-import">
            <li><strong>{check.total.toLocaleString("es-PE")}</strong> líneas con clientes</li>
            <li><strong>{check.rows.length.toLocaleString("es-PE")}</strong> válidas</li>
            <li className={check.errors.length ? "malo" : ""}><strong>{check.errors.length}</strong> con errores (no se importan)</li>
            <li className={check.duplicates.length ? "aviso" : ""}><strong>{dupLines.size}</strong> duplicadas</li>
          </ul>
          <div className="row acciones-import">
            <button type="button" className="secondary" onClick={() => { setCheck(null); setFase({ k: "inicio" }); }}>Descartar</button>
            <button type="button" disabled={aCrear === 0} onClick={importar}>
              Importar {aCrear.toLocaleString("es-PE")} clientes
            </button>
          </div>

          {check.errors.length > 0 && (
            <details open>
              <summary>Errores por línea</summary>
              <table className="tabla" data-testid="errores">
                <thead><tr><th scope="col">Línea</th><th scope="col">Campo</th><th scope="col">Problema</th></tr></thead>
                <tbody>
                  {check.errors.slice(0, MOSTRAR).map((e, i) => (
                    <tr key={i}><td>{e.line}</td><td>{CAMPO[e.field] ?? e.field}</td><td>{problemaEs(e.message)}</td></tr>
                  ))}
                </tbody>
              </table>
              {check.errors.length > MOSTRAR && <p className="muted">… y {check.errors.length - MOSTRAR} más.</p>}
            </details>
          )}

          {check.duplicates.length > 0 && (
            <details open>
              <summary>Duplicados</summary>
              <table className="tabla" data-testid="duplicados">
                <thead><tr><th scope="col">Línea</th><th scope="col">Campo</th><th scope="col">Valor</th><th scope="col">Ya está en</th></tr></thead>
                <tbody>
                  {check.duplicates.slice(0, MOSTRAR).map((d, i) => (
                    <tr key={i}>
                      <td>{d.line}</td><td>{CAMPO[d.field] ?? d.field}</td><td>{d.value}</td>
                      <td>{d.cliente_id ? `cliente #${d.cliente_id}` : `línea ${d.first_line}`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {check.duplicates.length > MOSTRAR && <p className="muted">… y {check.duplicates.length - MOSTRAR} más.</p>}
              <label className="check">
                <input type="checkbox" checked={omitirDup} onChange={(e) => setOmitirDup(e.target.checked)} />
                Omitir las {dupLines.size} líneas duplicadas
              </label>
            </details>
          )}

          <h3>Vista previa</h3>
          <table className="tabla" data-testid="vista-previa">
            <thead><tr><th scope="col">Línea</th><th scope="col">Nombre</th><th scope="col">Teléfono</th><th scope="col">Correo</th><th scope="col">Documento</th></tr></thead>
            <tbody>
              {check.rows.slice(0, 10).map((r) => (
                <tr key={r.line} className={dupLines.has(r.line) ? "dup" : ""}>
                  <td>{r.line}</td><td>{r.nombre}</td><td>{r.telefono}</td><td>{r.email ?? ""}</td><td>{r.documento ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>

        </section>
      )}
    </main>
  );
}
