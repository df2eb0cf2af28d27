import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { configureApi } from "./api/sessionApi";
import { App } from "./App";
import { currentToken, useSessionStore } from "./stores/sessionStore";
import "./styles.css";

configureApi({
  token: currentToken,
  onUnauthorized: () =>
    useSessionStore.getState().logout({ kind: "error", text: "Su sesión expiró; vuelva a iniciar sesión." }),
});
// The countdowns' clock (local only: no request is made).
setInterval(() => useSessionStore.getState().tick(), 1000);

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
