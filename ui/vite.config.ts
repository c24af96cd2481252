import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The UI is built into ui/dist, which the Tauri shell embeds.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: 'dist', emptyOutDir: true, target: 'safari15' },
  test: { include: ['src/**/*.test.ts'] },
});
