import { type FormEvent, useCallback, useEffect, useState } from "react";
import { gtrApi } from "../../api/gtrApi";
import { ApiError, mensajeDeError } from "../../api/sessionApi";
import type { AdminUserOut } from "../../api/types";
import { Dialogo } from "../../components/Dialogo";
import { useSessionStore } from "../../stores/sessionStore";

const ROL: Record<string, string> = { asesor: "Asesor", gtr: "Supervisor (GTR)" };

function texto(e: unknown): string {
  if (e instanceof ApiError && e.status === 409) return "Ese usuario ya existe.";
  if (e instanceof ApiError && e.status === 422) {
    const f = String(e.details.field ?? "");
    if (f === "username") return "Usuario: 2 a 64 letras, dígitos, «.», «_» o «-».";
    if (f === "password") return "La contraseña debe tener de 8 a 256 caracteres.";
    if (f === "nombre") return "El nombre es obligatorio (hasta 120 caracteres).";
  }
  return mensajeDeError(e);
}

function Crear({ onDone }: { onDone: (u: AdminUserOut) => void }) {
  const [v, setV] = useState({ username: "", nombre: "", role: "asesor", password: "" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const enviar = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const u = await gtrApi.crearUsuario({ ...v, role: v.role as AdminUserOut["role"] });
      setV({ username: "", nombre: "", role: "asesor", password: "" });
      onDone(u);
    } catch (err) {
      setError(texto(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="crear-usuario" onSubmit={enviar} aria-labelledby="crear-usuario-title">
      <h3 id="crear-usuario-title">Nuevo usuario</h3>
      <label><span>Usuario</span>
        <input value={v.username} onChange={(e) => setV({ ...v, username: e.target.value })} required maxLength={64} autoComplete="off" /></label>
      <label><span>Nombre</span>
        <input value={v.nombre} onChange={(e) => setV({ ...v, nombre: e.target.value })} required maxLength={120} /></label>
      <label><span>Rol</span>
        <select value={v.role} onChange={(e) => setV({ ...v, role: e.target.value })}>
          <option value="asesor">Asesor</option>
          <option value="gtr">Supervisor (GTR)</option>
        </select></label>
      <label><span>Contraseña inicial</span>
        <input type="password" value={v.password} onChange={(e) => setV({ ...v, password: e.target.value })}
          required minLength={8} maxLength={256} autoComplete="new-password" /></label>
      {error && <p className="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy}>Crear usuario</button>
    </form>
  );
}

function Clave({ u, onClose, onDone }: { u: AdminUserOut; onClose: () => void; onDone: (t: string) => void }) {
  const [clave, setClave] = useState("");
  const [error, setError] = useState<string | null>(null);
  const enviar = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await gtrApi.nuevaClave(u.id, clave);
      onDone(`Contraseña de ${u.username} cambiada; sus sesiones abiertas se cerraron.`);
    } catch (err) {
      setError(texto(err));
    }
  };
  return (
    <Dialogo titulo={`Nueva contraseña para ${u.username}`} onClose={onClose} testId="dialogo-clave">
      <form onSubmit={enviar} className="formulario">
        <label><span>Nueva contraseña (8 o más caracteres)</span>
          <input type="password" autoFocus value={clave} onChange={(e) => setClave(e.target.value)} minLength={8}
            maxLength={256} required autoComplete="new-password" /></label>
        <p className="muted">Todas sus sesiones abiertas se cierran: deberá entrar con la nueva contraseña.</p>
        {error && <p className="error" role="alert">{error}</p>}
        <div className="row end">
          <button type="button" className="secondary" onClick={onClose}>Cancelar</button>
          <button type="submit">Cambiar contraseña</button>
        </div>
      </form>
    </Dialogo>
  );
}

function Desactivar({ u, onClose, onDone }: { u: AdminUserOut; onClose: () => void; onDone: (t: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const go = async () => {
    try {
      await gtrApi.desactivar(u.id);
      onDone(`${u.username} desactivado.`);
    } catch (err) {
      setError(texto(err));
    }
  };
  return (
    <Dialogo titulo={`¿Desactivar a ${u.nombre} (${u.username})?`} onClose={onClose} testId="dialogo-desactivar">
      <p>No podrá entrar; sus sesiones abiertas se cierran y los clientes que esté gestionando vuelven a GTR.</p>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="row end">
        <button type="button" className="secondary" autoFocus onClick={onClose}>Cancelar</button>
        <button type="button" className="danger solid" onClick={go}>Desactivar</button>
      </div>
    </Dialogo>
  );
}

/** The people who log in: create, reset a password, deactivate / activate. */
export function Usuarios() {
  const yo = useSessionStore((s) => s.auth?.user.id);
  const [lista, setLista] = useState<AdminUserOut[]>([]);
  const [aviso, setAviso] = useState<string | null>(null);
  const [clave, setClave] = useState<AdminUserOut | null>(null);
  const [baja, setBaja] = useState<AdminUserOut | null>(null);
  const cargar = useCallback(() => {
    gtrApi.usuarios().then(setLista, (e) => setAviso(mensajeDeError(e)));
  }, []);
  useEffect(cargar, [cargar]);
  const hecho = (t: string) => {
    setAviso(t);
    setClave(null);
    setBaja(null);
    cargar();
  };
  const activar = async (u: AdminUserOut) => {
    try {
      await gtrApi.activar(u.id);
      hecho(`${u.username} activado.`);
    } catch (e) {
      setAviso(texto(e));
    }
  };
  return (
    <main className="usuarios" aria-labelledby="usuarios-title">
      <div className="usuarios-lista">
        <h2 id="usuarios-title">Usuarios</h2>
        {aviso && <p className="notice info" role="status" data-testid="aviso-usuarios">{aviso}</p>}
        <table className="tabla" data-testid="usuarios">
          <thead><tr><th scope="col">Usuario</th><th scope="col">Nombre</th><th scope="col">Rol</th><th scope="col">Estado</th><th scope="col">Acciones</th></tr></thead>
          <tbody>
            {lista.map((u) => (
              <tr key={u.id} data-testid={`usuario-${u.username}`} className={u.active ? "" : "inactivo"}>
                <td>{u.username}</td><td>{u.nombre}</td><td>{ROL[u.role] ?? u.role}</td>
                <td>{u.active ? "Activo" : "Inactivo"}</td>
                <td className="acciones">
                  <button type="button" className="secondary" onClick={() => setClave(u)} aria-label={`Restablecer contraseña de ${u.username}`}>
                    Contraseña…
                  </button>
                  {u.active ? (
                    <button type="button" className="danger" disabled={u.id === yo} onClick={() => setBaja(u)}
                      aria-label={`Desactivar ${u.username}`}>Desactivar…</button>
                  ) : (
                    <button type="button" className="secondary" onClick={() => void activar(u)} aria-label={`Activar ${u.username}`}>
                      Activar
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Crear onDone={(u) => hecho(`Usuario ${u.username} creado (${ROL[u.role]}).`)} />
      {clave && <Clave u={clave} onClose={() => setClave(null)} onDone={hecho} />}
      {baja && <Desactivar u={baja} onClose={() => setBaja(null)} onDone={hecho} />}
    </main>
  );
}
