import { defineConfig } from 'vite';

/**
 * Builds the live dashboard into generated/dashboard/, which the gateway serves at /dashboard/.
 * Run from the repository root as `vite build gateway/dashboard` (npm install does it): paths here are
 * relative to this folder. Everything is bundled; the page loads nothing from other origins.
 */
export default defineConfig({
  base: '/dashboard/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../../generated/dashboard',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // One small app: a warning about chunk size would be noise, a real regression shows in review.
    chunkSizeWarningLimit: 300,
  },
  server: {
    // `npm run dev:dashboard` talks to a running `npm start` on the default port.
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } },
  },
});
