// Vite builds the console and the public site into internal/webui/assets/app (scripts/web-build.sh passes
// --outDir). Every asset gets a content hash in its name, so the Go side serves them as immutable; the two
// HTML entries are templates the Go side serves at /console/... and /, /watch/..., /live/..., /embed/....
import { defineConfig } from "vite";

export default defineConfig({
  base: "/webui/app/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    emptyOutDir: true,
    sourcemap: false,
    // one script per page rather than many small chunks: fewer round trips on first render
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // hls.js alone is about 520 kB (160 kB gzipped); it is its own chunk, loaded when a player starts
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      input: { console: "console.html", site: "site.html" },
    },
  },
});
