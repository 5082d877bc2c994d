// Round-trips against examples/echo with Node's `ws`: text, binary,
// Cyrillic and emoji, a 1 MiB message, ping/pong, and a clean close; with
// compression, then a message inflating past the server's ratio bound,
// which must end in 1009.
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
  // Over 64 KiB, compressible as text is (not one repeated character:
  // that is over the server's inflate ratio bound).
  Array.from({ length: 3000 }, (_, i) => `line ${i}: GET /items/${(i * 7919) % 100000} 200\n`)
    .join('')
    .slice(0, 70000),
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
function done(extra) {
  clearTimeout(deadline);
  console.log(`node ws${deflate ? ` (${ws.extensions})` : ''}: ${cases.length} round trips, ping, close 1000 ok${extra}`);
}

// 1 MiB of one character is about 1 KiB compressed: the server says 1009.
function bomb() {
  const b = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
  b.on('open', () => b.send('x'.repeat(1 << 20)));
  b.on('message', () => fail('a 1000:1 message was echoed'));
  b.on('close', (code) => {
    if (code !== 1009) fail(`ratio bound: close code ${code}`);
    done(', 1000:1 message refused with 1009');
  });
  b.on('error', (e) => fail(e.message));
}

ws.on('close', (code) => {
  if (code !== 1000) fail(`close code ${code}`);
  if (next !== cases.length) fail(`only ${next} of ${cases.length} cases`);
  if (deflate) bomb();
  else done('');
});
ws.on('error', (e) => fail(e.message));
