// tests/browser/chat_test.mjs - drive the chat example in headless Chromium.
//
// usage: node chat_test.mjs http://127.0.0.1:PORT/
//
// Opens the chat in two pages, names one of them in Cyrillic, exchanges
// messages (Russian with an emoji), checks both pages see each message with
// the right name and the name-change notices, opens a third page later and
// checks it gets the history, sends an HTML-injection attempt and checks it
// shows as literal text without running, checks the view follows the
// newest message, and takes a page offline (CDP network emulation, its
// socket cut) while messages are sent: back online it shows each missed
// message once, in order. Every wait is bounded. Exits 0 when every check passed,
// 1 with a message naming the failed check otherwise; the browser is always
// closed. CHROMIUM overrides the browser path (default /usr/bin/chromium).
// EXPECT_DEFLATE=1 (a chat built with zlib) requires the 101 response's
// Sec-WebSocket-Extensions to accept Chromium's permessage-deflate offer;
// otherwise the response must carry no extension (seen through CDP).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const WAIT_MS = 10000;     // any single wait
const OVERALL_MS = 120000; // the whole run

const url = process.argv[2];
if (!url) {
  console.error('usage: node chat_test.mjs URL');
  process.exit(2);
}

let passed = 0;
const expectDeflate = process.env.EXPECT_DEFLATE === '1';
const handshakes = []; // { label, status, ext } of each page's WebSocket 101
const started = Date.now();
function ok(what) {
  passed++;
  console.log(`ok ${passed} - ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

class CheckFailed extends Error {}
function check(cond, what) {
  if (!cond) throw new CheckFailed(what);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The messages a page shows, as plain data.
function messagesOf(page) {
  return page.$$eval('#messages .msg', (rows) => rows.map((r) => ({
    kind: r.classList.contains('system') ? 'system' : r.classList.contains('chat') ? 'chat' : '?',
    name: r.querySelector('.name')?.textContent ?? null,
    text: r.querySelector('.text')?.textContent ?? null,
    hasTime: (r.querySelector('time')?.textContent ?? '') !== '',
  })));
}

// Poll until pred(messages) holds; fail with what after WAIT_MS.
async function waitMessages(page, label, pred, what) {
  const deadline = Date.now() + WAIT_MS;
  let msgs = [];
  while (Date.now() < deadline) {
    msgs = await messagesOf(page);
    if (pred(msgs)) return msgs;
    await sleep(100);
  }
  throw new CheckFailed(`${label}: ${what} (timed out after ${WAIT_MS} ms; page shows ` +
                        JSON.stringify(msgs.slice(-8)) + ')');
}

const isChat = (name, text) => (m) => m.kind === 'chat' && m.name === name && m.text === text;
const isSystem = (text) => (m) => m.kind === 'system' && m.name === null && m.text === text;

async function openChat(context, label, errors, beforeLoad) {
  const page = await context.newPage();
  if (beforeLoad) await beforeLoad(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const h = e.response.headers;
    const name = Object.keys(h).find((k) => k.toLowerCase() === 'sec-websocket-extensions');
    handshakes.push({ label, status: e.response.status, ext: name ? h[name] : '' });
  });
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => errors.push(`${label}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`# ${label} console: ${m.text()}`);
  });
  await page.goto(url, { timeout: WAIT_MS });
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  const text = await page.textContent('#status');
  check(text.includes('connected'), `${label}: #status says "${text}"`);
  return page;
}

// Chromium pauses animation frames in background tabs, and clicks wait for
// them: act only on the front page.
async function setName(page, name) {
  await page.bringToFront();
  await page.fill('#name', name);
  await page.click('#set-name');
}

async function sendMessage(page, content) {
  await page.bringToFront();
  await page.fill('#message', content);
  await page.click('#send');
}

async function run(context) {
  const errors = [];
  const a = await openChat(context, 'page A', errors);
  const b = await openChat(context, 'page B', errors);
  ok('two pages load the chat and connect');

  check(handshakes.length >= 2 && handshakes.every((h) => h.status === 101),
        'the WebSocket handshakes: ' + JSON.stringify(handshakes));
  for (const h of handshakes)
    check(expectDeflate ? h.ext.startsWith('permessage-deflate') : h.ext === '',
          `${h.label}: Sec-WebSocket-Extensions "${h.ext}" (EXPECT_DEFLATE=${expectDeflate ? 1 : 0})`);
  ok(`the 101 answers Chromium's compression offer with "${handshakes[0].ext || 'nothing'}"`);

  await setName(a, 'Иван');
  for (const [p, l] of [[a, 'page A'], [b, 'page B']])
    await waitMessages(p, l, (ms) => ms.some(isSystem('Anonymous is now known as Иван')),
                       'sees the name-change notice for Иван');
  await setName(b, 'Maria');
  for (const [p, l] of [[a, 'page A'], [b, 'page B']])
    await waitMessages(p, l, (ms) => ms.some(isSystem('Anonymous is now known as Maria')),
                       'sees the name-change notice for Maria');
  ok('name changes are announced to both pages');

  const russian = 'Привет, мир! 👋';
  const reply = 'Hi Иван, 😀 ok';
  await sendMessage(a, russian);
  await sendMessage(b, reply);
  for (const [p, l] of [[a, 'page A'], [b, 'page B']]) {
    const ms = await waitMessages(p, l, (ms) => ms.some(isChat('Иван', russian)) &&
                                                ms.some(isChat('Maria', reply)),
                                  'sees both chat messages with their senders');
    check(ms.every((m) => m.kind !== '?'), `${l}: a .msg without "system" or "chat"`);
    check(ms.every((m) => m.hasTime), `${l}: a message without its time`);
  }
  ok('Cyrillic and emoji messages arrive intact with the right names');

  const c = await openChat(context, 'page C', errors);
  const hist = await waitMessages(c, 'page C', (ms) => ms.some(isChat('Maria', reply)),
                                  'receives the history on join');
  const iNotice = hist.findIndex(isSystem('Anonymous is now known as Иван'));
  const iRussian = hist.findIndex(isChat('Иван', russian));
  const iReply = hist.findIndex(isChat('Maria', reply));
  check(iNotice >= 0 && iNotice < iRussian && iRussian < iReply,
        'page C: history is incomplete or out of order: ' + JSON.stringify(hist));
  await waitMessages(c, 'page C', (ms) => ms.findLastIndex(isSystem('Anonymous joined')) > iReply,
                     'sees its own join notice after the history');
  ok('a page opened later gets the history, in order, then its join notice');

  const xss = '<img src=x onerror="window.__xss=1">';
  await sendMessage(c, xss);
  for (const [p, l] of [[a, 'page A'], [b, 'page B'], [c, 'page C']])
    await waitMessages(p, l, (ms) => ms.some(isChat('Anonymous', xss)),
                       'shows the markup as literal text');
  await sleep(300); // give a broken page the chance to load the image
  for (const [p, l] of [[a, 'page A'], [b, 'page B'], [c, 'page C']]) {
    check(await p.evaluate(() => typeof window.__xss) === 'undefined',
          `${l}: the injected onerror handler ran`);
    check(await p.locator('#messages img').count() === 0, `${l}: an <img> element exists in #messages`);
  }
  ok('HTML in a message is shown as text and never runs');

  for (let i = 1; i <= 40; i++) await sendMessage(b, 'line ' + i);
  await waitMessages(a, 'page A', (ms) => ms.some(isChat('Maria', 'line 40')), 'gets 40 more lines');
  await sleep(200);
  const view = await a.$eval('#messages', (m) => ({
    overflow: m.scrollHeight > m.clientHeight,
    atBottom: m.scrollHeight - m.scrollTop - m.clientHeight < 4,
  }));
  check(view.overflow, 'page A: #messages does not overflow after 40 lines; cannot check scrolling');
  check(view.atBottom, 'page A: #messages is not scrolled to the newest message');
  ok('the message list follows the newest message');

  await c.close();
  await waitMessages(a, 'page A', (ms) => ms.some(isSystem('Anonymous left')),
                     'sees the leave notice of page C');
  ok('closing a page announces that its user left');

  // Page D goes offline through CDP network emulation
  // (Network.emulateNetworkConditions, offline: true, on a CDP session of
  // its own). What Chromium does then, seen with /usr/bin/chromium 156 and
  // playwright-core 1.65 (tests run by hand, page and a wsio client on
  // either side): an open WebSocket is NOT closed: no close event, no
  // Network.webSocketClosed, and from a session of the test's own, as
  // here, its frames even go on flowing both ways. (Playwright's
  // context.setOffline sends the same command on its own sessions, for
  // every page: the socket still stays open, but its frames are held in
  // both directions and delivered when back online.) A new WebSocket fails
  // at once: close code 1006, no handshake reaches the server. So the test
  // does both: it emulates offline, so the page's reconnects fail (checked:
  // at least one attempt made while offline closed without a 101), and it
  // cuts the live socket itself, through a WebSocket route whose
  // connection to the server is made by the page (so emulation applies).
  let live = null;
  const dUrls = [];
  const d = await openChat(context, 'page D', errors, (p) => p.routeWebSocket(/\/ws/, (route) => {
    dUrls.push(route.url());
    live = route;
    route.connectToServer();
  }));
  const net = await context.newCDPSession(d);
  await net.send('Network.enable');
  let offline = false;
  const attempts = new Map(); // requestId -> { offline, upgraded, closed }
  net.on('Network.webSocketCreated', (e) =>
    attempts.set(e.requestId, { offline, upgraded: false, closed: false }));
  net.on('Network.webSocketHandshakeResponseReceived', (e) => {
    if (attempts.has(e.requestId)) attempts.get(e.requestId).upgraded = true;
  });
  net.on('Network.webSocketClosed', (e) => {
    if (attempts.has(e.requestId)) attempts.get(e.requestId).closed = true;
  });
  const emulate = (value) => net.send('Network.emulateNetworkConditions', {
    offline: value, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await waitMessages(d, 'page D', (ms) => ms.some(isChat('Maria', 'line 40')), 'gets the history');
  const before = await messagesOf(d);
  offline = true;
  await emulate(true);
  check(await d.evaluate(() => navigator.onLine) === false, 'page D: navigator.onLine is still true');
  live.close({ code: 4000, reason: 'offline' });
  await d.waitForSelector('#status[data-state="disconnected"]', { timeout: WAIT_MS });
  for (let i = 1; i <= 5; i++) await sendMessage(b, 'missed ' + i);
  await waitMessages(b, 'page B', (ms) => ms.some(isChat('Maria', 'missed 5')), 'sends 5 messages');
  const failedOffline = () => [...attempts.values()].filter((a) => a.offline && a.closed && !a.upgraded);
  for (const deadline = Date.now() + WAIT_MS; failedOffline().length === 0 && Date.now() < deadline;)
    await sleep(100);
  check(failedOffline().length >= 1 && [...attempts.values()].every((a) => !a.offline || !a.upgraded),
        'page D: no reconnect failed while offline: ' + JSON.stringify([...attempts.values()]));
  const failures = failedOffline().length;
  offline = false;
  await emulate(false);
  const after = await waitMessages(d, 'page D', (ms) => ms.some(isChat('Maria', 'missed 5')),
                                   'shows the messages sent while it was offline');
  await sleep(300); // a duplicate would arrive with the rest
  const shown = (await messagesOf(d)).filter((m) => m.kind === 'chat' && /^missed \d$/.test(m.text));
  check(shown.map((m) => m.text).join() === 'missed 1,missed 2,missed 3,missed 4,missed 5' &&
        (await messagesOf(d)).filter(isChat('Maria', 'line 40')).length === 1,
        'page D: the missed messages once each and in order, nothing shown twice: ' +
        JSON.stringify(shown));
  if (process.env.EXPECT_RESUME === '1') {
    check(dUrls[dUrls.length - 1].includes('?since='),
          'page D: the reconnect asked for no ?since=: ' + JSON.stringify(dUrls));
    check(JSON.stringify(after.slice(0, before.length)) === JSON.stringify(before),
          'page D: what it showed before going offline changed after the resume');
  }
  ok(`a page that was offline (${failures} reconnect(s) failed meanwhile) shows each message it missed once, in order`);

  check(errors.length === 0, 'uncaught errors in the page: ' + errors.join('; '));
  ok('no uncaught errors in any page');
}

async function main() {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'wsio-chat-chromium-'));
  let context = null;
  let failed = null;
  const watchdog = setTimeout(() => {
    console.error(`FAIL: the test did not finish within ${OVERALL_MS} ms`);
    process.exit(1); // Playwright kills the browser it launched on exit
  }, OVERALL_MS);
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      timeout: WAIT_MS * 3,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
             '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync',
             // https:// (tests/tls/run.sh): the test CA is not the
             // browser's; the page then talks wss:// (no mixed content).
             ...(url.startsWith('https:') ? ['--ignore-certificate-errors'] : [])],
      ignoreHTTPSErrors: url.startsWith('https:'),
    });
    await run(context);
  } catch (e) {
    failed = e instanceof CheckFailed ? e.message : (e && e.stack) || String(e);
  } finally {
    if (context) await Promise.race([context.close().catch(() => {}), sleep(WAIT_MS)]);
    rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  if (failed) {
    console.error('FAIL: ' + failed);
    console.log(`browser: ${passed} passed, 1 failed`);
    process.exit(1);
  }
  console.log(`browser: ${passed} passed, 0 failed`);
}

main();
