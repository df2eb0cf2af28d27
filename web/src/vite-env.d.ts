/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the REST API (default "/api": the same origin). */
  readonly VITE_API_URL?: string;
  /** Socket.IO server URL (default: the page's own origin). */
  readonly VITE_WS_URL?: string;
  /** Milliseconds between heartbeats (default: what login answers, 30 s). */
  readonly VITE_HEARTBEAT_INTERVAL?: string;
  /** Where `npm run dev` proxies /api and /socket.io (default http://localhost:3001). */
  readonly VITE_PROXY_TARGET?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
