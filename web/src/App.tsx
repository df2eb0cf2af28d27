import { useEffect } from "react";
import { navigate, usePath } from "./lib/route";
import { AsesorConsole } from "./pages/AsesorConsole";
import { GtrDashboard } from "./pages/GtrDashboard";
import { Login } from "./pages/Login";
import { currentToken, useSessionStore } from "./stores/sessionStore";

/** Role-based landing: GTR to the board, an advisor to the console. */
export function App() {
  const path = usePath();
  const auth = useSessionStore((s) => s.auth);
  const logout = useSessionStore((s) => s.logout);
  const home = auth ? (auth.user.role === "gtr" ? "/gtr" : "/asesor") : "/login";

  useEffect(() => {
    if (auth && !currentToken()) logout({ kind: "error", text: "Su sesión expiró; vuelva a iniciar sesión." });
  }, [auth, logout]);

  useEffect(() => {
    if (path !== home) navigate(home, true);
  }, [path, home]);

  if (!auth || home === "/login") return <Login />;
  return auth.user.role === "gtr" ? <GtrDashboard /> : <AsesorConsole />;
}
