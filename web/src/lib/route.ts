// A three-page app needs no router: the path, kept in sync with history.
import { useEffect, useState } from "react";

// app/webui.py serves index.html on exactly these paths (and "/").
export type Ruta = "/login" | "/gtr" | "/asesor";

export function navigate(to: Ruta, replace = false): void {
  if (window.location.pathname === to) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const on = () => setPath(window.location.pathname);
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return path;
}
