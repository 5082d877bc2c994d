// Round-trips against examples/echo with Node's `ws`: text, binary,
// Cyrillic and emoji, a 1 MiB message, ping/pong, and a clean close.
// Usage: node echo_node.mjs ws://127.0.0.1:PORT/ [deflate]
// With "deflate" the client offers permessage-deflate (compressing every
// message: threshold 0) and the server must accept it.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const url = process.argv[2];
const deflate = process.argv[3] === 'deflate';
const deadline = setTimeout(() => {
  console.error('node ws: timed out');
  process.exit(1);
}, 60000);

function fail(msg) {
  console.error(`node ws: ${msg}`);
  process.exit(1);
}

const ws = new WebSocket(url, {
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: 2 << 20,
});
const cases = [
  'hello',
  '',
  'Привет, мир! 👋',
  Buffer.from([0, 1, 2, 255]),
  Buffer.alloc(0),
  randomBytes(1 << 20),
  'x'.repeat(70000),
];
let next = 0;

function sendNext() {
  if (next < cases.length) {
    const c = cases[next];
    ws.send(c, { binary: Buffer.isBuffer(c) });
    return;
  }
  ws.ping(Buffer.from('are you there'));
}

ws.on('open', () => {
  const answer = ws.extensions;
  if (deflate !== answer.startsWith('permessage-deflate')) fail(`extensions "${answer}"`);
  sendNext();
});
ws.on('message', (data, isBinary) => {
  const sent = cases[next];
  const wantBinary = Buffer.isBuffer(sent);
  if (isBinary !== wantBinary) fail(`case ${next}: binary=${isBinary}`);
  const same = wantBinary ? data.equals(sent) : data.toString('utf8') === sent;
  if (!same) fail(`case ${next}: payload of ${sent.length} differs`);
  next++;
  sendNext();
});
ws.on('pong', (data) => {
  if (data.toString() !== 'are you there') fail('pong payload differs');
  ws.close(1000, 'bye');
});
ws.on('close', (code) => {
  clearTimeout(deadline);
  if (code !== 1000) fail(`close code ${code}`);
  if (next !== cases.length) fail(`only ${next} of ${cases.length} cases`);
  console.log(`node ws${deflate ? ` (${ws.extensions})` : ''}: ${cases.length} round trips, ping, close 1000 ok`);
});
ws.on('error', (e) => fail(e.message));
