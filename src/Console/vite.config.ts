/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The API host serves dist/ at / (index.html uncached, /assets/* immutable) under a CSP without inline scripts:
// nothing may be inlined into index.html, and file names carry a content hash.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a running ./box up.
    proxy: {
      '/api': 'http://127.0.0.1:8085',
      '/ws': { target: 'ws://127.0.0.1:8085', ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
  },
});
