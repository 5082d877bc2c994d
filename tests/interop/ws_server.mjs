// A Node `ws` echo server with permessage-deflate (compressing every
// message), for the wsio client's interop test. Prints
// "ws: listening on ws://127.0.0.1:PORT/" like the examples; stops on
// SIGTERM. Usage: node ws_server.mjs --port N
import { WebSocketServer } from 'ws';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 4 << 20,
});
wss.on('listening', () => {
  console.log(`ws: listening on ws://127.0.0.1:${wss.address().port}/`);
});
wss.on('connection', (ws, req) => {
  console.error(`ws: offer "${req.headers['sec-websocket-extensions'] ?? ''}", ` +
                `agreed "${Object.keys(ws._extensions).join(',')}"`);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.on('SIGTERM', () => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(0));
});
