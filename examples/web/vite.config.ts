import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** `npm run example:web` serves this folder on http://localhost:5173; the gateway runs apart (`npm start`). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  server: { host: 'localhost', port: 5173, strictPort: true },
  build: { outDir: 'dist', emptyOutDir: true },
});
