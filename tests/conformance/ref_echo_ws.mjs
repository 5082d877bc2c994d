// Reference echo server for the conformance suite, built on Node's `ws`
// (tests/interop/node_modules, installed by `npm ci` there): every text or
// binary message goes back unchanged as one message with the same type.
// No compression, messages up to 16 MiB.
// Usage: node ref_echo_ws.mjs [--port N | N]   (0 or nothing: any free port)
import { createRequire } from 'node:module';

// ws lives in tests/interop's package, not next to this file.
const require = createRequire(new URL('../interop/package.json', import.meta.url));
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const portArg = args[0] === '--port' ? args[1] : args[0];
const port = Number(portArg ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`ref: bad port ${portArg}`);
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
});

wss.on('listening', () => {
  console.log(`ref: listening on ws://127.0.0.1:${wss.address().port}/`);
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  // Protocol errors from misbehaving clients are the point of the suite;
  // ws has already sent the close frame by the time this fires.
  ws.on('error', () => {});
});

// Exit 0 on SIGTERM so tests/lib.sh's stop_server sees a clean stop.
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
