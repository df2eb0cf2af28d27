import { memo, useEffect, useMemo, useState } from "react";
import { mensajeDeError, sessionApi } from "../../api/sessionApi";
import type { ClienteOut } from "../../api/types";
import { Countdown } from "../../components/Countdown";
import type { Card, Columna } from "../../lib/board";
import { localNow } from "../../lib/clock";
import { COLUMNAS_GTR, type ColumnaDef, desdeTexto, edad, paginaVecina, rango } from "../../lib/gtrDesk";
import { useBoardStore } from "../../stores/boardStore";
import { useGtrStore } from "../../stores/gtrStore";
import { Liberar } from "./Liberar";
import { DerivarVarios } from "./DerivarVarios";
import { NuevoCliente } from "./NuevoCliente";

const POOL = "pool";
const RAZON_CORTA: Record<string, string> = { timeout: "tiempo agotado", released: "liberado", orphan: "huérfano" };
const RESULTADO: Record<string, string> = { gestionado: "gestionado", cerrado: "cerrado", no_gestionado: "no gestionado" };

/** "Derivar…" opens the advisor choice for this one card only. */
function Derivar({ id, nombre }: { id: number; nombre: string }) {
  const asesores = useBoardStore((s) => s.asesores);
  const avisar = useBoardStore((s) => s.avisar);
  const [open, setOpen] = useState(false);
  const [to, setTo] = useState<string>("");
  const [busy, setBusy] = useState(false);
  const go = async () => {
    if (!to) return;
    setBusy(true);
    try {
      await sessionApi.derivar(id, to === POOL ? null : Number(to));
      setOpen(false);
      setTo("");
    } catch (e) {
      avisar("warning", `No se pudo derivar a ${nombre}: ${mensajeDeError(e)}`);
    } finally {
      setBusy(false);
    }
  };
  if (!open) {
    return (
      <button type="button" className="secondary" onClick={() => setOpen(true)} aria-label={`Derivar ${nombre}`}>
        Derivar…
      </button>
    );
  }
  return (
    <div className="row">
      <select autoFocus aria-label={`Asesor para ${nombre}`} value={to} onChange={(e) => setTo(e.target.value)}
        onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
        <option value="">Elegir asesor…</option>
        <option value={POOL}>Pool compartido</option>
        {Object.entries(asesores).map(([aid, n]) => (
          <option key={aid} value={aid}>{n}</option>
        ))}
      </select>
      <button type="button" disabled={!to || busy} onClick={go} aria-label={`Confirmar derivación de ${nombre}`}>
        OK
      </button>
      <button type="button" className="link" onClick={() => setOpen(false)} aria-label={`Cancelar derivación de ${nombre}`}>
        ×
      </button>
    </div>
  );
}

/** A page item with what the pushed events say since (estado, advisor, deadline). */
function vivo(item: ClienteOut, live: Card | undefined) {
  return {
    id: item.id,
    nombre: item.nombre,
    estado: live?.estado ?? item.estado,
    asesor_id: live ? live.asesor_id : item.asesor_asignado,
    deadline: live?.deadline ?? null,
    reason: live?.reason,
    desde: item.updated_at ?? null,
  };
}

const Tarjeta = memo(function Tarjeta({ item, live, offset, warn, now, marcado, razon }: {
  item: ClienteOut; live: Card | undefined; offset: number; warn: number; now: number; marcado: boolean;
  /** why it last came back to GTR (the alert history), when the events did not say */
  razon?: string;
}) {
  const marcar = useGtrStore((s) => s.marcar);
  const asesores = useBoardStore((s) => s.asesores);
  const c = vivo(item, live);
  if (!c.reason && razon && c.estado === "no_gestionado") c.reason = razon as Card["reason"];
  const asesor = c.asesor_id !== null ? asesores[c.asesor_id] ?? `Asesor #${c.asesor_id}` : null;
  const espera = c.desde === null ? null : now + offset - c.desde;
  const esperando = c.estado === "nuevo" || c.estado === "derivado" || c.estado === "no_gestionado";
  const derivable = esperando;
  return (
    <li className="card" data-testid={`cliente-${c.id}`} data-estado={c.estado}>
      <div className="card-head">
        {derivable && (
          <input type="checkbox" className="marca" checked={marcado} aria-label={`Seleccionar ${c.nombre}`}
            onChange={(e) => marcar(c.id, e.target.checked)} />
        )}
        <strong>{c.nombre}</strong>
        <span className="muted">#{c.id}</span>
      </div>
      {esperando && c.desde !== null && (
        <div className="espera" data-testid="espera" title={new Date((c.desde - offset) * 1000).toLocaleString("es-PE")}>
          esperando desde {desdeTexto(c.desde - offset, now)} · {edad(espera)}
        </div>
      )}
      {c.estado === "derivado" && <div className="muted">{asesor ?? "Pool compartido"}</div>}
      {c.estado === "en_gestion" && (
        <>
          <div className="muted">{asesor}</div>
          <div className="row spread">
            <Countdown deadline={c.deadline} offset={offset} warn={warn} />
            <Liberar t={{ id: c.id, nombre: c.nombre, asesor: asesor ?? "Un asesor", desde: c.desde, deadline: c.deadline }}
              offset={offset} warn={warn} />
          </div>
        </>
      )}
      {(c.estado === "gestionado" || c.estado === "cerrado") && (
        <div className="muted">{RESULTADO[c.estado]}{asesor ? ` · ${asesor}` : ""}</div>
      )}
      {c.estado === "no_gestionado" && c.reason && <div className="tag warn">{RAZON_CORTA[c.reason] ?? c.reason}</div>}
      {(c.estado === "nuevo" || c.estado === "no_gestionado" || c.estado === "derivado") && (
        <div className="row"><Derivar id={c.id} nombre={c.nombre} /></div>
      )}
    </li>
  );
});

function ColumnaGtr({ def, offset, warn, now }: { def: ColumnaDef; offset: number; warn: number; now: number }) {
  const pagina = useGtrStore((s) => s.paginas[def.key]);
  const irA = useGtrStore((s) => s.irA);
  const cards = useBoardStore((s) => s.cards);
  const seleccion = useGtrStore((s) => s.seleccion);
  const alertas = useGtrStore((s) => s.alertas);
  const razones = useMemo(() => {
    const out: Record<number, string> = {};
    for (const a of alertas) if (!(a.cliente_id in out)) out[a.cliente_id] = a.reason; // newest first
    return out;
  }, [alertas]);
  const items = def.key === "en_gestion"
    ? [...pagina.items].sort((a, b) => (cards[a.id]?.deadline ?? Infinity) - (cards[b.id]?.deadline ?? Infinity))
    : pagina.items;
  const prev = paginaVecina(pagina.offset, pagina.total, -1);
  const next = paginaVecina(pagina.offset, pagina.total, 1);
  return (
    <section className={`column col-${def.key}`} aria-labelledby={`col-${def.key}`} data-testid={`col-${def.key}`}
      aria-busy={!pagina.loaded}>
      <h2 id={`col-${def.key}`}>
        {def.titulo} <span className="count" data-testid="total">{pagina.total.toLocaleString("es-PE")}</span>
      </h2>
      {pagina.error && <p className="tag warn" role="alert">{pagina.error}</p>}
      {/* focusable: a column of cards without buttons (Gestionados) still scrolls by keyboard */}
      <ul tabIndex={0} aria-label={`Clientes: ${def.titulo}`}>
        {items.map((item) => (
          <Tarjeta key={item.id} item={item} live={cards[item.id]} offset={offset} warn={warn} now={now}
            marcado={!!seleccion[item.id]} razon={razones[item.id]} />
        ))}
        {pagina.loaded && items.length === 0 && <li className="muted vacio">Ninguno.</li>}
      </ul>
      {pagina.total > items.length && (
        <nav className="paginas" aria-label={`Páginas de ${def.titulo}`}>
          <button type="button" className="secondary" disabled={prev === null}
            onClick={() => prev !== null && void irA(def.key, prev)} aria-label={`${def.titulo}: página anterior`}>‹</button>
          <span data-testid="rango">{rango(pagina.offset, items.length, pagina.total)}</span>
          <button type="button" className="secondary" disabled={next === null}
            onClick={() => next !== null && void irA(def.key, next)} aria-label={`${def.titulo}: página siguiente`}>›</button>
        </nav>
      )}
    </section>
  );
}

function Filtros() {
  const filtros = useGtrStore((s) => s.filtros);
  const setFiltros = useGtrStore((s) => s.setFiltros);
  const asesores = useBoardStore((s) => s.asesores);
  const [texto, setTexto] = useState(filtros.q);
  const [nuevo, setNuevo] = useState(false);
  const [bloque, setBloque] = useState(false);
  const marcados = useGtrStore((s) => Object.keys(s.seleccion).length);
  useEffect(() => {
    if (texto === filtros.q) return;
    const t = setTimeout(() => setFiltros({ q: texto }), 300);
    return () => clearTimeout(t);
  }, [texto, filtros.q, setFiltros]);
  return (
    <div className="filtros" role="search">
      <div className="campo">
        <label htmlFor="f-buscar">Buscar</label>
        <input id="f-buscar" type="search" value={texto} maxLength={100} placeholder="Nombre, teléfono, documento o #id"
          onChange={(e) => setTexto(e.target.value)} data-testid="buscar" />
      </div>
      <div className="campo">
        <label htmlFor="f-estado">Estado</label>
        <select id="f-estado" value={filtros.columna ?? ""} onChange={(e) => setFiltros({ columna: (e.target.value || null) as Columna | null })}>
          <option value="">Todos</option>
          {COLUMNAS_GTR.map((c) => <option key={c.key} value={c.key}>{c.titulo}</option>)}
        </select>
      </div>
      <div className="campo">
        <label htmlFor="f-asesor">Asesor</label>
        <select id="f-asesor" value={filtros.asesorId ?? ""} onChange={(e) => setFiltros({ asesorId: e.target.value ? Number(e.target.value) : null })}>
          <option value="">Todos</option>
          {Object.entries(asesores).map(([id, n]) => <option key={id} value={id}>{n}</option>)}
        </select>
      </div>
      {(filtros.q || filtros.asesorId !== null || filtros.columna) && (
        <button type="button" className="secondary" onClick={() => { setTexto(""); setFiltros({ q: "", asesorId: null, columna: null }); }}>
          Quitar filtros
        </button>
      )}
      <span className="grow" />
      <button type="button" className="secondary" onClick={() => setBloque(true)}>
        Derivar en bloque…{marcados > 0 ? ` (${marcados})` : ""}
      </button>
      <button type="button" onClick={() => setNuevo(true)}>Nuevo cliente</button>
      {nuevo && <NuevoCliente onClose={() => setNuevo(false)} />}
      {bloque && <DerivarVarios onClose={() => setBloque(false)} />}
    </div>
  );
}

export function Tablero({ warn }: { warn: number }) {
  const offset = useBoardStore((s) => s.offset);
  const columna = useGtrStore((s) => s.filtros.columna);
  // one clock for every card's waiting age (cards re-render with it)
  const [now, setNow] = useState(localNow());
  useEffect(() => {
    const t = setInterval(() => setNow(localNow()), 15_000);
    return () => clearInterval(t);
  }, []);
  const cols = COLUMNAS_GTR.filter((c) => !columna || c.key === columna);
  return (
    <div className="tablero">
      <Filtros />
      <main className={`board cols-${cols.length}`}>
        {cols.map((c) => <ColumnaGtr key={c.key} def={c} offset={offset} warn={warn} now={now} />)}
      </main>
    </div>
  );
}
