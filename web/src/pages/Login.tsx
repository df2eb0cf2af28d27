import { type FormEvent, useState } from "react";
import { mensajeDeError, sessionApi } from "../api/sessionApi";
import { ApiError } from "../api/sessionApi";
import { useSessionStore } from "../stores/sessionStore";

export function Login() {
  const login = useSessionStore((s) => s.login);
  const notice = useSessionStore((s) => s.notice);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      login(await sessionApi.login(username.trim(), password));
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? "Usuario o contraseña incorrectos." : mensajeDeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">ALBRU CRM</h1>
        <p className="muted">Ingrese con su usuario de GTR o de asesor.</p>
        {notice && <p className={`notice ${notice.kind}`} role="status">{notice.text}</p>}
        <label>
          Usuario
          <input name="username" autoComplete="username" autoFocus required value={username}
            onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          Contraseña
          <input name="password" type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="notice error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? "Ingresando…" : "Ingresar"}</button>
      </form>
    </main>
  );
}
