// bench/peers/ws_server.mjs - Node's `ws` as a peer for bench/compare.sh.
//
//   node ws_server.mjs [--host 127.0.0.1] [--port 9004] [--mode echo|broadcast]
//                      [--tls-cert FILE --tls-key FILE]
//
// echo: every message comes back to its sender. broadcast: every message
// goes to every open client, the sender included (like
// examples/broadcast.c), the way ws's README broadcasts. No compression.
// With --tls-cert/--tls-key it serves wss:// on Node's https server.
import { WebSocketServer, WebSocket } from 'ws';
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const host = opt('--host', '127.0.0.1');
const port = Number(opt('--port', '9004'));
const mode = opt('--mode', 'echo');
const cert = opt('--tls-cert', null);
const key = opt('--tls-key', null);

const https = cert
  ? createServer({ cert: readFileSync(cert), key: readFileSync(key) })
  : null;
const wss = new WebSocketServer({
  ...(https ? { server: https } : { host, port, backlog: 4096 }),
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
  clientTracking: true,
});
if (https) https.listen({ host, port, backlog: 4096 });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'broadcast') {
    ws.on('message', (data, isBinary) => {
      for (const c of wss.clients)
        if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});

(https || wss).on('listening', () => {
  const a = (https || wss).address();
  console.log(`ws_server: listening on ${https ? 'wss' : 'ws'}://${host}:${a.port}/ (${mode}, node ${process.version})`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => (https ? https.close(() => process.exit(0)) : process.exit(0)));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
