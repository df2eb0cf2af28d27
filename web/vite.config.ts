/// <reference types="vitest/config" />
import { defineConfig, loadEnv } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the UI on :5174 (the seed's FRONTEND_URL) and proxies
// /api and /socket.io to the Flask web process (VITE_PROXY_TARGET, default :3001),
// so the browser talks to one origin, as it does behind Flask or nginx.
export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, ".", "VITE_");
  const target = env.VITE_PROXY_TARGET || "http://localhost:3001";
  return {
    plugins: [react()],
    server: {
      port: 5174,
      strictPort: true,
      proxy: {
        "/api": { target, changeOrigin: false },
        "/socket.io": { target, ws: true, changeOrigin: false },
      },
    },
    build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 800 },
    test: { environment: "jsdom", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
  };
});
