import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The console is static assets under /console, served by the API (no server of its own).
export default defineConfig({
  root: __dirname,
  base: '/console/',
  plugins: [react()],
  build: { outDir: resolve(__dirname, '../../dist/console'), emptyOutDir: true, sourcemap: true },
});
