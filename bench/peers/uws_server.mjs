// bench/peers/uws_server.mjs - uWebSockets.js (npm package
// @trufflesuite/uws-js-unofficial) as a peer for bench/compare.sh.
//
//   node uws_server.mjs [--host 127.0.0.1] [--port 9005] [--mode echo|broadcast]
//                       [--tls-cert FILE --tls-key FILE]
//
// echo: every message comes back to its sender. broadcast: every client is
// subscribed to one topic and every message is published to it, so the
// sender gets it too (like examples/broadcast.c). No compression; the
// backpressure limit is raised so that no message of these workloads is
// dropped. With --tls-cert/--tls-key it is uWS's SSLApp (wss://).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const native = join(pkgDir, 'binaries',
  `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
if (!existsSync(native)) {
  // The package silently falls back to a ws-based shim: that would not
  // be uWebSockets.
  console.error(`uws_server: no native binary ${native}`);
  process.exit(1);
}
const uWS = require('@trufflesuite/uws-js-unofficial');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const host = opt('--host', '127.0.0.1');
const port = Number(opt('--port', '9005'));
const mode = opt('--mode', 'echo');
const cert = opt('--tls-cert', null);
const key = opt('--tls-key', null);

const app = cert ? uWS.SSLApp({ cert_file_name: cert, key_file_name: key }) : uWS.App();
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  open: (ws) => {
    if (mode === 'broadcast') ws.subscribe('all');
  },
  message: mode === 'broadcast'
    ? (ws, message, isBinary) => { app.publish('all', message, isBinary); }
    : (ws, message, isBinary) => { ws.send(message, isBinary); },
});

let token = null;
app.listen(host, port, (t) => {
  if (!t) {
    console.error(`uws_server: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  token = t;
  console.log(`uws_server: listening on ${cert ? 'wss' : 'ws'}://${host}:${port}/ (${mode}, node ${process.version})`);
});

const stop = () => {
  if (token) uWS.us_listen_socket_close(token);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
