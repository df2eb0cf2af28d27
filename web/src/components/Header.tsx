import { sessionApi } from "../api/sessionApi";
import type { ConnState } from "../hooks/socketLogic";
import { useSessionStore } from "../stores/sessionStore";

const ESTADO: Record<ConnState, string> = {
  connecting: "Conectando…",
  connected: "En línea",
  reconnecting: "Reconectando…",
};

/** `onSalir`: replaces the plain logout (the advisor console asks first when a client is open). */
export function Header({ title, state, onSalir }: { title: string; state: ConnState; onSalir?: () => void }) {
  const auth = useSessionStore((s) => s.auth);
  const logout = useSessionStore((s) => s.logout);
  // The server revokes the token (and closes its sockets); the request reads the
  // token before the store forgets it, and the screen does not wait for it.
  const salir = () => {
    sessionApi.logout().catch(() => undefined);
    logout();
  };
  return (
    <header className="topbar">
      <h1>ALBRU · {title}</h1>
      <span className={`conn conn-${state}`} role="status" aria-live="polite" data-testid="conexion">
        {ESTADO[state]}
      </span>
      <span className="who">{auth?.user.nombre} ({auth?.user.role === "gtr" ? "GTR" : "asesor"})</span>
      <button type="button" className="secondary" onClick={onSalir ?? salir}>
        Cerrar sesión
      </button>
    </header>
  );
}

export function Reconectando({ state }: { state: ConnState }) {
  if (state === "connected") return null;
  return (
    <div className="banner" role="alert" data-testid="reconectando">
      {state === "reconnecting"
        ? "Reconectando… Los cambios se mostrarán al volver la conexión."
        : "Conectando con el servidor…"}
    </div>
  );
}
