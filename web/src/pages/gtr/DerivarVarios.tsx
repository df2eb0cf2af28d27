import { useState } from "react";
import { gtrApi } from "../../api/gtrApi";
import { mensajeDeError } from "../../api/sessionApi";
import { Dialogo } from "../../components/Dialogo";
import { useBoardStore } from "../../stores/boardStore";
import { useGtrStore } from "../../stores/gtrStore";

const POOL = "pool";
const MAX = 500;

/** Bulk derive: the ticked cards, or the N oldest new clients, to one advisor
 * or the pool, in one action with one confirmation. */
export function DerivarVarios({ onClose }: { onClose: () => void }) {
  const asesores = useBoardStore((s) => s.asesores);
  const seleccion = useGtrStore((s) => s.seleccion);
  const marcados = Object.keys(seleccion).map(Number);
  const [cuales, setCuales] = useState<"marcados" | "antiguos">(marcados.length ? "marcados" : "antiguos");
  const [n, setN] = useState(25);
  const [to, setTo] = useState("");
  const [busy, setBusy] = useState(false);
  const [resultado, setResultado] = useState<string | null>(null);
  const destino = to === POOL ? "al pool compartido" : `a ${asesores[Number(to)] ?? ""}`;
  const cuantos = cuales === "marcados" ? marcados.length : n;
  const valido = to !== "" && cuantos >= 1 && cuantos <= MAX;
  const go = async () => {
    setBusy(true);
    try {
      const ids = cuales === "marcados"
        ? marcados
        : (await gtrApi.buscar({ estados: ["nuevo"], order: "oldest", limit: n })).items.map((c) => c.id);
      const r = await gtrApi.derivarVarios(ids, to === POOL ? null : Number(to));
      useGtrStore.getState().limpiarSeleccion();
      setResultado(`Derivados ${r.derived.length} ${destino}.` + (r.failed.length
        ? ` No se pudieron derivar ${r.failed.length} (ya no estaban en un estado que lo permita).` : ""));
    } catch (e) {
      setResultado(`No se pudo derivar: ${mensajeDeError(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialogo titulo="Derivar en bloque" onClose={onClose} testId="dialogo-bloque">
      {resultado ? (
        <>
          <p role="status" data-testid="resultado-bloque">{resultado}</p>
          <div className="row end"><button type="button" autoFocus onClick={onClose}>Cerrar</button></div>
        </>
      ) : (
        <div className="formulario">
          <fieldset className="cuales">
            <legend>Clientes</legend>
            <label className="check">
              <input type="radio" name="cuales" checked={cuales === "marcados"} disabled={!marcados.length}
                onChange={() => setCuales("marcados")} />
              Los {marcados.length} marcados en el tablero
            </label>
            <label className="check">
              <input type="radio" name="cuales" checked={cuales === "antiguos"} onChange={() => setCuales("antiguos")} />
              Los nuevos que más esperan:
            </label>
            <label className="indent">
              <span>Cantidad (1 a {MAX})</span>
              <input type="number" min={1} max={MAX} value={n} disabled={cuales !== "antiguos"}
                onChange={(e) => setN(Math.max(0, Math.min(MAX, Number(e.target.value) || 0)))} />
            </label>
          </fieldset>
          <label>
            <span>Derivar a</span>
            <select value={to} onChange={(e) => setTo(e.target.value)}>
              <option value="">Elegir asesor…</option>
              <option value={POOL}>Pool compartido</option>
              {Object.entries(asesores).map(([id, nombre]) => <option key={id} value={id}>{nombre}</option>)}
            </select>
          </label>
          {valido && <p className="confirmar">Se derivarán <strong>{cuantos}</strong> clientes <strong>{destino}</strong>.</p>}
          <div className="row end">
            <button type="button" className="secondary" onClick={onClose}>Cancelar</button>
            <button type="button" disabled={!valido || busy} onClick={go}>Derivar {valido ? cuantos : ""} clientes</button>
          </div>
        </div>
      )}
    </Dialogo>
  );
}
