// The seed's server entry point (socketio-messaging.md, "Server Setup"): express on an http.Server,
// Socket.IO attached with initSocket. The seed's REST routes and database are left out: the seed's
// Socket.IO path neither reads nor writes them ("no persistence" on the real-time path).
import http from 'http';
import express from 'express';
import { initSocket } from './modules/socket.js';

const PORT = Number(process.env.PORT || 5000);
// Loopback by default: this server is only ever a benchmark target on this machine.
const HOST = process.env.HOST || '127.0.0.1';
const CLIENT_ORIGIN = process.env.CLIENT_ORIGIN || 'http://localhost:3000';

const app = express();
app.use(express.json());
app.get('/health', (_req, res) => res.json({ status: 'ok' }));

const httpServer = http.createServer(app);

// Initialize Socket.io
initSocket(httpServer, CLIENT_ORIGIN);

// Listen on HTTP server (not app.listen)
httpServer.listen(PORT, HOST, () => {
  const { address, port } = httpServer.address();
  // One line on stdout, the same shape as confab-server's, for the benchmark scripts.
  console.log(`reference listening on http://${address}:${port}`);
  console.error(`API and WebSocket ready on port ${port}`);
});
