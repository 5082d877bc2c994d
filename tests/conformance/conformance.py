#!/usr/bin/python3
"""RFC 6455 conformance suite for WebSocket echo servers.

Usage: conformance.py URL [--case PATTERN] [--verbose] [--timeout S]

Drives an echo server (every text/binary message comes back unchanged as one
message) over raw TCP with hand-built frames, in the spirit of the Autobahn
testsuite's fuzzingclient, and checks every outcome against what RFC 6455
requires. Standard library only. Each case opens fresh connections; every
read and write is bounded by a timeout, and so is the whole run.

Prints one line per case ("ok   1.1.1 ..." or "FAIL 3.2 ...: why") and then
"conformance: N passed, M failed". Exits 0 only when nothing failed.
"""

import argparse
import base64
import fnmatch
import hashlib
import os
import select
import socket
import struct
import sys
import time
import urllib.parse

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPNAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary",
           CLOSE: "close", PING: "ping", PONG: "pong"}
KIB = 1 << 10
MIB = 1 << 20
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
PRINTABLE = bytes(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -"
                  [i % 64] for i in range(256))


class CaseFail(Exception):
    """The server's behaviour differs from what the case expects."""


# --------------------------------------------------------------------------
# Frames

def mask_bytes(data, key):
    """XOR data with the repeating 4-byte key (section 5.3), fast for MiBs."""
    n = len(data)
    if n == 0:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, masked=True, length=None):
    """One frame's bytes (section 5.2). Client frames are masked with a fresh
    random key; `length` overrides the announced payload length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def fragments(opcode, payload, size):
    """A message split into frames of `size` payload bytes (section 5.4)."""
    parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out = []
    for i, part in enumerate(parts):
        out.append(frame(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1))
    return out


def split_at(data, *offsets):
    """data cut at the given offsets: split_at(b"abcd", 1, 3) -> a, bc, d."""
    bounds = [0, *offsets, len(data)]
    return [data[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def text_payload(n):
    """n random printable ASCII bytes (valid UTF-8, no pattern to hide bugs)."""
    return os.urandom(n).translate(PRINTABLE)


def size_name(n):
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    return "1 byte" if n == 1 else f"{n} bytes"


def digest(data):
    return hashlib.sha1(data).digest()


def describe_client_bytes(data, limit=6):
    """Our own frames in `data`, for --verbose: "text fin=1 len=5, ping ..."."""
    out, p = [], 0
    while p < len(data) and len(out) < limit:
        if len(data) - p < 2:
            out.append(f"{len(data) - p} header bytes")
            break
        b0, b1 = data[p], data[p + 1]
        n, head = b1 & 0x7F, 2
        if n >= 126:
            size = 2 if n == 126 else 8
            if len(data) - p < 2 + size:
                out.append("partial header")
                break
            n, head = int.from_bytes(data[p + 2:p + 2 + size], "big"), 2 + size
        head += 4 if b1 & 0x80 else 0
        desc = (f"{OPNAMES.get(b0 & 0xF, hex(b0 & 0xF))} fin={b0 >> 7} len={n}"
                + (f" rsv={(b0 >> 4) & 7}" if b0 & 0x70 else "")
                + ("" if b1 & 0x80 else " unmasked"))
        if p + head + n > len(data):
            desc += f" (only {max(len(data) - p - head, 0)} payload bytes sent)"
        out.append(desc)
        p += head + n
    if p < len(data):
        out.append("...")
    return ", ".join(out)


# --------------------------------------------------------------------------
# What the server sent

class Event:
    """A complete server message, a control frame, or the end of the TCP
    connection ("eof", "reset") or of our patience ("timeout")."""

    def __init__(self, kind, payload=b"", code=None, waited=0.0):
        self.kind = kind
        self.payload = payload
        self.code = code
        self.waited = waited

    def describe(self, conn):
        if self.kind in ("text", "binary"):
            echo = "echo" if digest(self.payload) in conn.sent else "message"
            return f"{self.kind} {echo} ({size_name(len(self.payload))})"
        if self.kind in ("ping", "pong"):
            return f"{self.kind} ({size_name(len(self.payload))})"
        if self.kind == "close":
            return "close without code" if self.code is None else f"close {self.code}"
        if self.kind == "eof":
            return "TCP close without close frame"
        if self.kind == "reset":
            return "TCP reset without close frame"
        return f"nothing within {self.waited:g} s"


def expected_close(codes):
    return " or ".join("close without code" if c is None else f"close {c}" for c in codes)


class Conn:
    """One client connection: the opening handshake, masked frame writes
    (whole, in chunks, or byte by byte), and bounded frame reads that check
    the server's own frames against section 5."""

    def __init__(self, run, timeout, deadline):
        self.run = run
        self.timeout = timeout
        self.deadline = deadline
        self.rx = bytearray()
        self.rpos = 0
        self.eof = False
        self.reset = False
        self.send_broken = False
        self.partial = None  # (opcode, [payload parts]) of a fragmented server message
        self.sent = set()    # digests of data payloads sent, to say "echo"
        self._framing = False  # send_frame traces its frame itself
        self.sock = socket.create_connection((run.host, run.port), timeout=self._left(timeout))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._handshake()
        self.sock.setblocking(False)

    def _left(self, wanted):
        left = min(wanted, self.deadline - time.monotonic())
        if left <= 0:
            raise CaseFail("case time budget exceeded")
        return left

    def trace(self, line):
        if self.run.verbose:
            print("     " + line, flush=True)

    # Opening handshake (section 4.1 client side, 4.2.2 server answer).
    def _handshake(self):
        key = base64.b64encode(os.urandom(16))
        request = (f"GET {self.run.path} HTTP/1.1\r\n"
                   f"Host: {self.run.hostport}\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key.decode()}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.sock.sendall(request)
        buf = b""
        end = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in buf:
            if len(buf) > 16 * KIB:
                raise CaseFail("handshake response headers exceed 16 KiB")
            self.sock.settimeout(self._left(max(end - time.monotonic(), 0.001)))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                raise CaseFail(f"no handshake response within {self.timeout:g} s") from None
            if not data:
                raise CaseFail("connection closed during the handshake")
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[0] != "HTTP/1.1" or status[1] != "101":
            raise CaseFail(f"handshake answered {lines[0]!r}, not 101")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if headers.get("upgrade", "").lower() != "websocket":
            raise CaseFail(f"handshake Upgrade is {headers.get('upgrade')!r}")
        if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
            raise CaseFail(f"handshake Connection is {headers.get('connection')!r}")
        if headers.get("sec-websocket-accept") != accept:
            raise CaseFail(f"Sec-WebSocket-Accept is {headers.get('sec-websocket-accept')!r}, want {accept!r}")
        if "sec-websocket-extensions" in headers:
            raise CaseFail("server chose an extension we did not offer")
        self.rx += rest

    # Writing.
    def send(self, *chunks, delay=0.0):
        """Write each chunk in turn (pausing `delay` s between them so they
        reach the server as separate reads), reading meanwhile. Stops quietly
        if the server has closed: what it sent is judged by the expectations."""
        if self.run.verbose and not self._framing:
            self.trace("> " + describe_client_bytes(b"".join(chunks))
                       + (f" in {len(chunks)} writes" if len(chunks) > 1 else ""))
        for i, chunk in enumerate(chunks):
            if i and delay:
                time.sleep(delay)
            self._pump(chunk)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, masked=True,
                   length=None, chunk=None, delay=0.0):
        data = frame(opcode, payload, fin, rsv, masked, length)
        if opcode in (TEXT, BINARY, CONT):
            self.sent.add(digest(payload))
        self.trace("> " + describe_client_bytes(data) + (f" in {chunk}-byte writes" if chunk else ""))
        self._framing = True
        try:
            self.send(*(pieces(data, chunk) if chunk else [data]), delay=delay)
        finally:
            self._framing = False

    def send_message(self, opcode, payload, size=None, delay=0.0):
        """A whole message, fragmented into frames of `size` bytes if given."""
        self.sent.add(digest(payload))
        if size is None:
            self.send_frame(opcode, payload)
            return
        self.send(*fragments(opcode, payload, size), delay=delay)

    def _pump(self, data):
        view = memoryview(data)
        off = 0
        end = time.monotonic() + self.timeout
        while off < len(view) and not self.send_broken:
            if time.monotonic() >= end:
                raise CaseFail(f"timed out writing: server took {off} of {len(view)} bytes")
            left = self._left(end - time.monotonic())
            readers = [] if self.eof or self.reset else [self.sock]
            readable, writable, _ = select.select(readers, [self.sock], [], left)
            if readable:
                self._recv_some()
            if writable:
                try:
                    off += self.sock.send(view[off:off + 256 * KIB])
                except BlockingIOError:
                    pass
                except OSError as e:  # EPIPE, ECONNRESET: the server is gone
                    self.trace(f"! write stopped: {e}")
                    self.send_broken = True

    # Reading.
    def _recv_some(self):
        try:
            data = self.sock.recv(MIB)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self.reset = True
            return
        if data:
            self.rx += data
        else:
            self.eof = True

    def _parse_frame(self):
        buf, p = self.rx, self.rpos
        avail = len(buf) - p
        if avail < 2:
            return None
        b0, b1 = buf[p], buf[p + 1]
        n, head = b1 & 0x7F, 2
        if n == 126:
            if avail < 4:
                return None
            n, head = struct.unpack_from("!H", buf, p + 2)[0], 4
        elif n == 127:
            if avail < 10:
                return None
            n, head = struct.unpack_from("!Q", buf, p + 2)[0], 10
        fin, rsv, opcode, masked = b0 >> 7, (b0 >> 4) & 7, b0 & 0xF, b1 >> 7
        # Section 5.1: a server MUST NOT mask; 5.2: RSV bits need an extension.
        if masked:
            raise CaseFail("server sent a masked frame (section 5.1)")
        if rsv:
            raise CaseFail(f"server sent a frame with RSV bits {rsv} (section 5.2)")
        if opcode not in OPNAMES:
            raise CaseFail(f"server sent reserved opcode {opcode:#x} (section 5.2)")
        if opcode >= CLOSE and (n > 125 or not fin):
            raise CaseFail(f"server sent a bad {OPNAMES[opcode]} frame: fin={fin} len={n} (section 5.5)")
        if n > 64 * MIB:
            raise CaseFail(f"server announced a {n}-byte frame")
        if avail < head + n:
            return None
        payload = bytes(buf[p + head:p + head + n])
        self.rpos = p + head + n
        if self.rpos > MIB and self.rpos * 2 > len(buf):
            del buf[:self.rpos]
            self.rpos = 0
        return fin, opcode, payload

    def _assemble(self, fin, opcode, payload):
        """The event a frame completes, or None mid-message (section 5.4)."""
        if opcode >= CLOSE:
            if opcode != CLOSE:
                return Event(OPNAMES[opcode], payload)
            if len(payload) == 1:
                raise CaseFail("server sent a 1-byte close payload (section 5.5.1)")
            if not payload:
                return Event("close")
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise CaseFail("server sent a close reason that is not UTF-8") from None
            return Event("close", code=struct.unpack("!H", payload[:2])[0])
        if opcode == CONT:
            if self.partial is None:
                raise CaseFail("server sent a continuation frame outside a message")
            self.partial[1].append(payload)
        else:
            if self.partial is not None:
                raise CaseFail("server started a message inside a fragmented one")
            self.partial = (opcode, [payload])
        if not fin:
            return None
        opcode, parts = self.partial
        self.partial = None
        return Event(OPNAMES[opcode], b"".join(parts))

    def next_event(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while True:
            parsed = self._parse_frame()
            if parsed:
                ev = self._assemble(*parsed)
                if ev:
                    self.trace(f"< {ev.describe(self)}")
                    return ev
                continue
            if self.eof or self.reset:
                if len(self.rx) > self.rpos or self.partial:
                    raise CaseFail("server closed TCP in the middle of a frame or message")
                return Event("reset" if self.reset else "eof")
            left = min(end, self.deadline) - time.monotonic()
            if left <= 0:
                ev = Event("timeout", waited=timeout)
                self.trace(f"< {ev.describe(self)}")
                return ev
            if select.select([self.sock], [], [], left)[0]:
                self._recv_some()

    # Expectations.
    def expect_message(self, opcode, payload):
        ev = self.next_event()
        want = f"{OPNAMES[opcode]} echo ({size_name(len(payload))})"
        if ev.kind != OPNAMES[opcode]:
            raise CaseFail(f"expected {want}, got {ev.describe(self)}")
        if ev.payload != payload:
            at = next((i for i, (a, b) in enumerate(zip(ev.payload, payload)) if a != b),
                      min(len(ev.payload), len(payload)))
            raise CaseFail(f"expected {want}, got {size_name(len(ev.payload))} that differ at byte {at}")

    def expect_pong(self, payload):
        ev = self.next_event()
        if ev.kind != "pong" or ev.payload != payload:
            got = ev.describe(self) if ev.kind != "pong" else f"pong with other payload ({size_name(len(ev.payload))})"
            raise CaseFail(f"expected pong ({size_name(len(payload))}), got {got}")

    def expect_close(self, *codes, allow_eof=False, note=""):
        """The server closes with one of `codes` (None: no code), then closes
        TCP without sending anything more (sections 5.5.1, 7.1.1, 7.1.7).
        With allow_eof, closing TCP without a close frame is accepted too."""
        ev = self.next_event()
        if allow_eof and ev.kind in ("eof", "reset"):
            return
        if ev.kind != "close" or ev.code not in codes:
            want = expected_close(codes) + (" or TCP close" if allow_eof else "")
            raise CaseFail(f"expected {want}{note}, got {ev.describe(self)}")
        self.expect_tcp_close()

    def expect_tcp_close(self):
        ev = self.next_event()
        if ev.kind == "timeout":
            raise CaseFail(f"server did not close TCP within {ev.waited:g} s of its close frame")
        if ev.kind not in ("eof", "reset"):
            raise CaseFail(f"server sent {ev.describe(self)} after its close frame")

    def close_handshake(self, code=1000, reason=b"", expect=None):
        """Send a close frame; the server answers with a close (by default
        echoing our code, section 5.5.1) and then closes TCP."""
        self.send_frame(CLOSE, close_payload(code, reason) if code is not None else b"")
        self.expect_close(*(expect or (code,)))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Cases

class Case:
    def __init__(self, number, title, fn, scale):
        self.number = number
        self.title = title
        self.fn = fn
        self.scale = scale


CASES = []


def add(number, title, fn, scale=1):
    """Register a case; `scale` multiplies the per-read timeout (big cases)."""
    CASES.append(Case(number, title, fn, scale))


def case(number, title, scale=1):
    def register(fn):
        add(number, title, fn, scale)
        return fn
    return register


def echo_case(opcode, payload, size=None, chunk=None, delay=0.0):
    """The message comes back unchanged, then the close handshake completes."""
    def run(t):
        c = t.connect()
        if size is not None:
            c.send_message(opcode, payload, size=size, delay=delay)
        else:
            c.send_frame(opcode, payload, chunk=chunk, delay=delay)
        c.expect_message(opcode, payload)
        c.close_handshake()
    return run


def fail_case(bad, code=1002, stepwise=False, allow_eof=False):
    """A good text, then the bad bytes, then a ping: the text is echoed, the
    server fails the connection with `code` (section 7.1.7), does not answer
    the ping or echo anything of the bad frame, and closes TCP."""
    def run(t):
        c = t.connect()
        c.send_frame(TEXT, b"Hello, before")
        if stepwise:
            c.expect_message(TEXT, b"Hello, before")
        c.send(bad)
        if stepwise:
            time.sleep(0.05)
        c.send_frame(PING, b"after")
        if not stepwise:
            c.expect_message(TEXT, b"Hello, before")
        c.expect_close(code, allow_eof=allow_eof)
    return run


# 1.x framing: every length encoding (section 5.2), whole and split.
LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]


def register_framing():
    for fam, opcode, make in ((1, TEXT, text_payload), (2, BINARY, os.urandom)):
        name = OPNAMES[opcode]
        for i, n in enumerate(LENGTHS, 1):
            add(f"1.{fam}.{i}", f"{name}, {n} bytes", echo_case(opcode, make(n)))
        add(f"1.{fam}.8", f"{name}, 65536 bytes in 997-byte chunks",
            echo_case(opcode, make(65536), chunk=997, delay=0.001))
        add(f"1.{fam}.9", f"{name}, 8 MiB",
            lambda t, o=opcode, m=make: echo_case(o, m(8 * MIB))(t), scale=6)
        add(f"1.{fam}.10", f"{name}, message limit (--max-message, 16 MiB)",
            lambda t, o=opcode, m=make: echo_case(o, m(t.max_message))(t), scale=12)


register_framing()


def header_byte_by_byte(opcode, n):
    def run(t):
        payload = text_payload(n) if opcode == TEXT else os.urandom(n)
        c = t.connect()
        data = frame(opcode, payload)
        c.sent.add(digest(payload))
        head = 2 + 4 + (0 if n < 126 else 2 if n < 65536 else 8)
        c.send(*[data[i:i + 1] for i in range(head)], *pieces(data[head:], 4 * KIB), delay=0.002)
        c.expect_message(opcode, payload)
        c.close_handshake()
    return run


add("1.3.1", "text, 125 bytes (7-bit length) byte by byte",
    echo_case(TEXT, text_payload(125), chunk=1, delay=0.001))
add("1.3.2", "text, 126 bytes (16-bit length), header byte by byte", header_byte_by_byte(TEXT, 126))
add("1.3.3", "binary, 65536 bytes (64-bit length), header byte by byte", header_byte_by_byte(BINARY, 65536))


@case("1.3.4", "three frames in one write")
def _(t):
    c = t.connect()
    msgs = [(TEXT, b"one"), (BINARY, os.urandom(300)), (TEXT, text_payload(70000))]
    c.send(b"".join(frame(op, p) for op, p in msgs))
    for op, p in msgs:
        c.sent.add(digest(p))
    for op, p in msgs:
        c.expect_message(op, p)
    c.close_handshake()


@case("1.3.5", "write boundaries inside headers and masks")
def _(t):
    c = t.connect()
    msgs = [(TEXT, text_payload(200)), (BINARY, os.urandom(5)), (TEXT, text_payload(66000))]
    data = b"".join(frame(op, p) for op, p in msgs)
    for op, p in msgs:
        c.sent.add(digest(p))
    # 200-byte frame = 8 + 200; cut in its neighbour's header (+1) and mask (+4).
    first = 8 + 200
    second = first + 6 + 5
    c.send(*split_at(data, 3, first + 1, first + 4, second + 3, second + 9), delay=0.02)
    for op, p in msgs:
        c.expect_message(op, p)
    c.close_handshake()


# 2.x ping and pong (sections 5.5.2, 5.5.3).
def ping_case(payload, chunk=None):
    def run(t):
        c = t.connect()
        c.send_frame(PING, payload, chunk=chunk, delay=0.001)
        c.expect_pong(payload)
        c.close_handshake()
    return run


add("2.1", "ping, 0 bytes -> pong", ping_case(b""))
add("2.2", "ping, 125 bytes text payload -> pong", ping_case(text_payload(125)))
add("2.3", "ping, 125 binary bytes 00..F8 -> pong", ping_case(bytes(range(0, 250, 2))))
add("2.4", "ping, 125 bytes sent byte by byte -> pong", ping_case(os.urandom(125), chunk=1))
add("2.5", "ping, 126 bytes -> close 1002, no pong", fail_case(frame(PING, b"x" * 126)))
add("2.6", "pong, 126 bytes -> close 1002", fail_case(frame(PONG, b"x" * 126)))


@case("2.7", "unsolicited pong is ignored")
def _(t):
    c = t.connect()
    c.send_frame(PONG, b"unsolicited")
    c.send_frame(TEXT, b"after the pong")
    c.expect_message(TEXT, b"after the pong")
    c.close_handshake()


@case("2.8", "unsolicited pong, 125 bytes, then ping -> one pong with the ping's payload")
def _(t):
    c = t.connect()
    c.send_frame(PONG, os.urandom(125))
    c.send_frame(PING, b"the ping")
    c.expect_pong(b"the ping")
    c.close_handshake()


@case("2.9", "10 pings, one at a time -> 10 pongs")
def _(t):
    c = t.connect()
    for i in range(10):
        c.send_frame(PING, b"ping %d" % i)
        c.expect_pong(b"ping %d" % i)
    c.close_handshake()


@case("2.10", "10 pings in one write -> 10 pongs in order")
def _(t):
    c = t.connect()
    c.send(b"".join(frame(PING, b"burst %d" % i) for i in range(10)))
    for i in range(10):
        c.expect_pong(b"burst %d" % i)
    c.close_handshake()


# 3.x reserved bits without a negotiated extension (section 5.2).
add("3.1", "RSV1 on text -> close 1002", fail_case(frame(TEXT, b"rsv1", rsv=4)))
add("3.2", "RSV2 on text -> close 1002", fail_case(frame(TEXT, b"rsv2", rsv=2)))
add("3.3", "RSV3 on text, frame by frame -> close 1002",
    fail_case(frame(TEXT, b"rsv3", rsv=1), stepwise=True))
add("3.4", "RSV1+RSV3 on binary -> close 1002", fail_case(frame(BINARY, b"\x00\xff", rsv=5)))
add("3.5", "RSV2+RSV3 on ping -> close 1002, no pong", fail_case(frame(PING, b"rsv", rsv=3)))
add("3.6", "all RSV bits on close -> close 1002",
    fail_case(frame(CLOSE, close_payload(1000), rsv=7)))
add("3.7", "RSV1 on a continuation frame -> close 1002",
    fail_case(frame(TEXT, b"frag", fin=False) + frame(CONT, b"ment", rsv=4)))


# 4.x reserved opcodes (section 5.2).
for i, op in enumerate(range(3, 8), 1):
    add(f"4.1.{i}", f"reserved data opcode {op:#x} -> close 1002",
        fail_case(frame(op, b"reserved" if i % 2 else b"")))
for i, op in enumerate(range(0xB, 0x10), 1):
    add(f"4.2.{i}", f"reserved control opcode {op:#X} -> close 1002",
        fail_case(frame(op, b"reserved" if i % 2 else b"")))


# 5.x fragmentation (section 5.4).
add("5.1", "ping in 2 fragments -> close 1002",
    fail_case(frame(PING, b"frag", fin=False) + frame(CONT, b"ment")))
add("5.2", "pong in 2 fragments -> close 1002",
    fail_case(frame(PONG, b"frag", fin=False) + frame(CONT, b"ment")))
add("5.3", "text in 2 fragments -> one message", echo_case(TEXT, b"fragmented text", size=8))
add("5.4", "text in 2 fragments, frame by frame", echo_case(TEXT, b"fragmented text", size=8, delay=0.05))
add("5.5", "text in 1-byte fragments -> one message", echo_case(TEXT, text_payload(64), size=1))
add("5.6", "binary in 2 fragments -> one message", echo_case(BINARY, os.urandom(300), size=150))
add("5.7", "binary in 100 fragments of 1000 bytes", echo_case(BINARY, os.urandom(100000), size=1000))


@case("5.8", "ping between fragments is answered before the message completes")
def _(t):
    c = t.connect()
    c.sent.add(digest(b"fragment one, fragment two"))
    c.send(frame(TEXT, b"fragment one, ", fin=False), frame(PING, b"mid-message"))
    c.expect_pong(b"mid-message")
    c.send(frame(CONT, b"fragment two"))
    c.expect_message(TEXT, b"fragment one, fragment two")
    c.close_handshake()


@case("5.9", "unsolicited pong between fragments is ignored")
def _(t):
    c = t.connect()
    c.sent.add(digest(b"before pong, after pong"))
    c.send(frame(TEXT, b"before pong, ", fin=False), frame(PONG, b"unsolicited"),
           frame(CONT, b"after pong"), delay=0.05)
    c.expect_message(TEXT, b"before pong, after pong")
    c.close_handshake()


add("5.10", "continuation without a message, FIN set -> close 1002",
    fail_case(frame(CONT, b"orphan")))
add("5.11", "continuation without a message, FIN clear -> close 1002",
    fail_case(frame(CONT, b"orphan", fin=False) + frame(CONT, b"end")))


@case("5.12", "continuation after a complete fragmented message -> echo, then close 1002")
def _(t):
    c = t.connect()
    c.sent.update([digest(b"onetwo"), digest(b"three")])
    c.send(frame(TEXT, b"one", fin=False) + frame(CONT, b"two") + frame(CONT, b"three")
           + frame(PING, b"after"))
    c.expect_message(TEXT, b"onetwo")
    c.expect_close(1002)


add("5.13", "text frame inside a fragmented text -> close 1002",
    fail_case(frame(TEXT, b"start", fin=False) + frame(TEXT, b"again") + frame(CONT, b"end")))
add("5.14", "binary frame inside a fragmented text -> close 1002",
    fail_case(frame(TEXT, b"start", fin=False) + frame(BINARY, b"again", fin=False) + frame(CONT, b"end")))


@case("5.15", "three empty fragments -> empty text")
def _(t):
    c = t.connect()
    c.send(frame(TEXT, b"", fin=False), frame(CONT, b"", fin=False), frame(CONT, b""))
    c.sent.add(digest(b""))
    c.expect_message(TEXT, b"")
    c.close_handshake()


@case("5.16", "empty fragments around content")
def _(t):
    c = t.connect()
    parts = [b"", b"Hello", b"", b"", b", ", b"World", b""]
    c.sent.add(digest(b"".join(parts)))
    c.send(*(frame(TEXT if i == 0 else CONT, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)))
    c.expect_message(TEXT, b"Hello, World")
    c.close_handshake()


@case("5.17", "ping at every byte boundary of a 1-byte-fragment message")
def _(t):
    c = t.connect()
    msg = "Grüße, κόσμε!".encode()
    c.sent.add(digest(msg))
    data = b"".join(frame(TEXT if i == 0 else CONT, msg[i:i + 1], fin=i == len(msg) - 1)
                    + frame(PING, b"%d" % i) for i in range(len(msg)))
    c.send(data)
    # Pongs come in order; where the echo falls among them is the
    # application's business (section 5.5.2 only says "as soon as practical").
    pongs, echoed = 0, False
    while pongs < len(msg) or not echoed:
        ev = c.next_event()
        if ev.kind == "pong" and ev.payload == b"%d" % pongs:
            pongs += 1
        elif ev.kind == "text" and ev.payload == msg and not echoed:
            echoed = True
        else:
            want = f"pong {pongs}" + ("" if echoed else " or the text echo")
            raise CaseFail(f"expected {want}, got {ev.describe(c)}")
    c.close_handshake()


@case("5.18", "close inside a fragmented message -> close handshake, no echo")
def _(t):
    c = t.connect()
    c.sent.add(digest(b"neverfinished"))
    c.send(frame(TEXT, b"never", fin=False), frame(CLOSE, close_payload(1000)),
           frame(CONT, b"finished"))
    c.expect_close(1000)


# 6.x UTF-8 in text messages (sections 5.6, 8.1; RFC 3629).
VALID_UTF8 = [
    ("Greek", "κόσμε".encode()),
    ("Cyrillic", "Привет, мир".encode()),
    ("emoji", "👋🌍🎉".encode()),
    ("mixed", "Hello-µ@ßöäüàá-UTF-8!!".encode()),
    ("U+007F", b"\x7f"),
    ("U+0080", b"\xc2\x80"),
    ("U+07FF", b"\xdf\xbf"),
    ("U+0800", b"\xe0\xa0\x80"),
    ("U+D7FF", b"\xed\x9f\xbf"),
    ("U+E000", b"\xee\x80\x80"),
    ("U+FFFD", b"\xef\xbf\xbd"),
    ("U+FFFF", b"\xef\xbf\xbf"),
    ("U+10000", b"\xf0\x90\x80\x80"),
    ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("all boundaries in one text", b"a\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbfz"),
]
INVALID_UTF8 = [
    ("overlong '/' in 2 bytes", b"\xc0\xaf"),
    ("overlong '/' in 3 bytes", b"\xe0\x80\xaf"),
    ("overlong '/' in 4 bytes", b"\xf0\x80\x80\xaf"),
    ("overlong NUL", b"\xc0\x80"),
    ("largest overlong in 2 bytes", b"\xc1\xbf"),
    ("largest overlong in 3 bytes", b"\xe0\x9f\xbf"),
    ("largest overlong in 4 bytes", b"\xf0\x8f\xbf\xbf"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("surrogate pair", b"\xed\xa0\x80\xed\xb0\x80"),
    ("U+110000", b"\xf4\x90\x80\x80"),
    ("F5 lead byte", b"\xf5\x80\x80\x80"),
    ("5-byte form", b"\xf8\x88\x80\x80\x80"),
    ("6-byte form", b"\xfc\x84\x80\x80\x80\x80"),
    ("truncated 2-byte at end", b"abc\xc2"),
    ("truncated 3-byte at end", b"abc\xe0\xa0"),
    ("truncated 4-byte at end", b"abc\xf0\x90\x80"),
    ("lone continuation 80", b"\x80"),
    ("lone continuation BF inside text", b"a\xbfb"),
    ("lead byte then ASCII", b"\xc2A"),
    ("FE", b"\xfe"),
    ("FF", b"\xff"),
    ("FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("Greek then surrogate", "κόσμε".encode() + b"\xed\xa0\x80edited"),
]


def utf8_valid_split(payload):
    """Echoed when cut into 2 fragments at every boundary, and in 1-byte fragments."""
    def run(t):
        c = t.connect()
        c.sent.add(digest(payload))
        for cut in range(1, len(payload)):
            a, b = split_at(payload, cut)
            c.send(frame(TEXT, a, fin=False), frame(CONT, b))
            c.expect_message(TEXT, payload)
        c.send_message(TEXT, payload, size=1)
        c.expect_message(TEXT, payload)
        c.close_handshake()
    return run


def utf8_invalid_split(payload):
    """Every 2-fragment cut, one connection each: close 1007."""
    def run(t):
        for cut in range(1, len(payload)):
            c = t.connect()
            a, b = split_at(payload, cut)
            c.send(frame(TEXT, a, fin=False), frame(CONT, b))
            c.expect_close(1007, note=f" (cut at byte {cut})")
            c.close()
    return run


def register_utf8():
    for i, (name, p) in enumerate(VALID_UTF8, 1):
        add(f"6.1.{i}", f"valid UTF-8, {name} -> echo", echo_case(TEXT, p))
        add(f"6.2.{i}", f"valid UTF-8, {name}, fragmented at every byte boundary -> echo",
            utf8_valid_split(p))
    for i, (name, p) in enumerate(INVALID_UTF8, 1):
        add(f"6.3.{i}", f"invalid UTF-8, {name} -> close 1007", fail_case(frame(TEXT, p), 1007))
        add(f"6.4.{i}", f"invalid UTF-8, {name}, 1-byte fragments -> close 1007",
            fail_case(b"".join(fragments(TEXT, p, 1)), 1007))
        if len(p) > 1:
            add(f"6.5.{i}", f"invalid UTF-8, {name}, 2 fragments cut at every byte boundary -> close 1007",
                utf8_invalid_split(p))


register_utf8()


@case("6.6.1", "fail fast: invalid UTF-8 early in a 1 MiB text frame -> close 1007 before it completes")
def _(t):
    c = t.connect()
    payload = b"valid start \xc0\xaf" + text_payload(MIB - 14)
    data = frame(TEXT, payload)
    c.send(data[:64 * KIB])  # the rest never follows
    c.expect_close(1007, note=" before the frame completed")


@case("6.6.2", "fail fast: invalid UTF-8 in the first fragment -> close 1007 before the message completes")
def _(t):
    c = t.connect()
    c.send(frame(TEXT, b"first \xed\xa0\x80 fragment", fin=False))
    c.expect_close(1007, note=" before the message completed")


@case("6.6.3", "fail fast: invalid UTF-8 cut by a fragment boundary -> close 1007 before the message completes")
def _(t):
    c = t.connect()
    c.send(frame(TEXT, b"ab\xf4", fin=False), frame(CONT, b"\x90\x80\x80cd", fin=False))
    c.expect_close(1007, note=" before the message completed")


@case("6.6.4", "invalid text between valid ones -> first echoed, close 1007, no more echoes")
def _(t):
    c = t.connect()
    c.send_frame(TEXT, b"first")
    c.send(frame(TEXT, b"bad \xff byte") + frame(TEXT, b"third"))
    c.sent.add(digest(b"third"))
    c.expect_message(TEXT, b"first")
    c.expect_close(1007)


# 7.x closing (sections 5.5.1, 7.1, 7.4).
@case("7.1.1", "close without payload -> close (no code or 1000), TCP closed")
def _(t):
    c = t.connect()
    c.close_handshake(None, expect=(None, 1000))


add("7.1.2", "close 1000 -> close 1000", lambda t: t.connect().close_handshake(1000))
add("7.1.3", "close 1000 with reason -> close 1000",
    lambda t: t.connect().close_handshake(1000, b"goodbye"))


@case("7.1.4", "text and ping after our close -> not answered")
def _(t):
    c = t.connect()
    c.send(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"too late") + frame(PING, b"too late"))
    c.sent.add(digest(b"too late"))
    c.expect_close(1000)


@case("7.1.5", "close sent byte by byte -> close 1000")
def _(t):
    c = t.connect()
    c.send_frame(CLOSE, close_payload(1000, b"slowly"), chunk=1, delay=0.002)
    c.expect_close(1000)


@case("7.1.6", "second close after ours -> one close back, TCP closed")
def _(t):
    c = t.connect()
    c.send(frame(CLOSE, close_payload(1000)) + frame(CLOSE, close_payload(1001)))
    c.expect_close(1000)


@case("7.1.7", "nothing after the server's close: frames pipelined after a fatal error")
def _(t):
    c = t.connect()
    tail = b"".join(frame(TEXT, b"after %d" % i) + frame(PING, b"after %d" % i) for i in range(20))
    c.sent.update(digest(b"after %d" % i) for i in range(20))
    c.send(frame(PING, b"x" * 126) + tail)
    c.expect_close(1002)


add("7.3.1", "close with a 1-byte payload -> close 1002", fail_case(frame(CLOSE, b"\x03")))
add("7.3.2", "close 1000 with a 123-byte reason -> close 1000",
    lambda t: t.connect().close_handshake(1000, text_payload(123)))
add("7.3.3", "close with a 124-byte reason (126-byte payload) -> close 1002",
    fail_case(frame(CLOSE, close_payload(1000, b"r" * 124))))
add("7.5.1", "close reason with invalid UTF-8 -> close 1007",
    fail_case(frame(CLOSE, close_payload(1000, b"bad \xce\xba\xe1\xbd\xb9\xed\xa0\x80 reason")), 1007))
add("7.5.2", "close reason with valid multibyte UTF-8 -> close 1000",
    lambda t: t.connect().close_handshake(1000, "κόσμε 👋".encode()))

# 1012-1014 are registered with IANA (RFC 6455 section 11.7) and valid.
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3999, 4000, 4999]
# Section 7.4.1/7.4.2: 0-999 unused, 1004 reserved, 1005/1006/1015 never in
# a frame, 1016-2999 reserved for this protocol, above 4999 undefined.
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
for i, code in enumerate(VALID_CODES, 1):
    add(f"7.7.{i}", f"close {code} -> close {code}",
        lambda t, code=code: t.connect().close_handshake(code, b"valid code"))
for i, code in enumerate(INVALID_CODES, 1):
    add(f"7.9.{i}", f"close {code} -> close 1002", fail_case(frame(CLOSE, close_payload(code))))


# 9.x big and many.
def register_big():
    sizes = [(TEXT, MIB, text_payload), (TEXT, 8 * MIB, text_payload),
             (BINARY, MIB, os.urandom), (BINARY, 8 * MIB, os.urandom)]
    for i, (op, n, make) in enumerate(sizes, 1):
        add(f"9.1.{i}", f"{OPNAMES[op]}, {size_name(n)} in one frame",
            lambda t, op=op, n=n, make=make: echo_case(op, make(n))(t), scale=6)
    for i, (op, n, make) in enumerate(sizes, 1):
        add(f"9.2.{i}", f"{OPNAMES[op]}, {size_name(n)} in 64 KiB fragments",
            lambda t, op=op, n=n, make=make: echo_case(op, make(n), size=64 * KIB)(t), scale=6)


register_big()


# Autobahn 9.3.1-9.3.3 (text) and 9.4.1-9.4.3 (binary): 4 MiB in small
# fragments. Each fragment is charged 64 bytes against the 16 MiB limit
# (docs/limits.md), so these pass where a count limit refused them.
def register_small_fragments():
    shapes = [(op, frag) for op in (TEXT, BINARY) for frag in (64, 256, 1024)]
    for i, (op, frag) in enumerate(shapes, 1):
        make = text_payload if op == TEXT else os.urandom
        add(f"9.5.{i}", f"{OPNAMES[op]}, 4 MiB in {frag}-byte fragments",
            lambda t, op=op, frag=frag, make=make:
                echo_case(op, make(4 * MIB), size=frag)(t), scale=12)


register_small_fragments()


def pipelined(opcode, make):
    def run(t):
        c = t.connect()
        msgs = [make(1 + i % 200) for i in range(1000)]
        c.sent.update(digest(m) for m in msgs)
        c.send(b"".join(frame(opcode, m) for m in msgs))
        for m in msgs:
            c.expect_message(opcode, m)
        c.close_handshake()
    return run


add("9.3.1", "1000 small texts pipelined -> echoed in order", pipelined(TEXT, text_payload), scale=2)
add("9.3.2", "1000 small binaries pipelined -> echoed in order", pipelined(BINARY, os.urandom), scale=2)


@case("9.4.1", "frame over the message limit -> close 1009 before its payload")
def _(t):
    c = t.connect()
    c.send(frame(BINARY, b"", length=t.max_message + 1)[:14] + b"\x00" * 100)
    c.expect_close(1009, note=" before the payload arrived")


@case("9.4.2", "fragments adding up to more than the message limit -> close 1009", scale=6)
def _(t):
    c = t.connect()
    chunk = os.urandom(MIB)
    frags = [frame(BINARY if i == 0 else CONT, chunk, fin=False) for i in range(t.max_message // MIB)]
    frags.append(frame(CONT, b"x" * (t.max_message % MIB + 1)))
    c.send(*frags)
    c.expect_close(1009)


# 10.x framing abuse (sections 5.1, 5.2).
add("10.1", "64-bit length with the top bit set -> close 1002 or TCP close",
    fail_case(frame(BINARY, b"", length=1 << 63)[:14], allow_eof=True))
add("10.2", "unmasked text frame -> close 1002", fail_case(frame(TEXT, b"unmasked", masked=False)))
add("10.3", "unmasked ping -> close 1002, no pong", fail_case(frame(PING, b"unmasked", masked=False)))
add("10.4", "unmasked close -> close 1002", fail_case(frame(CLOSE, close_payload(1000), masked=False)))
add("10.5", "unmasked continuation of a masked start -> close 1002",
    fail_case(frame(TEXT, b"masked", fin=False) + frame(CONT, b"unmasked", masked=False)))


# --------------------------------------------------------------------------
# Runner

class Run:
    def __init__(self, args):
        url = urllib.parse.urlsplit(args.url)
        if url.scheme != "ws" or not url.hostname:
            raise SystemExit(f"conformance: need a ws://host:port/path URL, got {args.url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.hostport = url.netloc
        self.path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.verbose = args.verbose
        self.base_timeout = args.timeout
        self.max_message = args.max_message
        self.run_deadline = time.monotonic() + args.total_timeout


class CaseContext:
    """What a case function gets: connect() and the limits it runs under."""

    def __init__(self, run, case_):
        self.run = run
        self.timeout = run.base_timeout * case_.scale
        self.deadline = min(run.run_deadline, time.monotonic() + 4 * self.timeout)
        self.max_message = run.max_message
        self.conns = []

    def connect(self):
        c = Conn(self.run, self.timeout, self.deadline)
        self.conns.append(c)
        return c

    def finish(self):
        for c in self.conns:
            c.close()


def selected(patterns):
    if not patterns:
        return CASES
    pats = [p for arg in patterns for p in arg.split(",") if p]
    return [c for c in CASES
            if any(fnmatch.fnmatchcase(c.number, p) or c.number == p or c.number.startswith(p + ".")
                   for p in pats)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="ws://host:port/path of an echo server")
    ap.add_argument("--case", action="append", metavar="PATTERN",
                    help="run only cases whose number matches: 6.3 (family prefix), 7.*.2 (glob), "
                         "several comma-separated or repeated")
    ap.add_argument("--verbose", action="store_true", help="trace frames sent and received")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds each read may wait (big cases get a multiple); default 5")
    ap.add_argument("--total-timeout", type=float, default=900.0,
                    help="seconds the whole run may take; default 900")
    ap.add_argument("--max-message", type=int, default=16 * MIB,
                    help="the server's message size limit in bytes; default 16 MiB")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    cases = selected(args.case)
    if args.list:
        for c in cases:
            print(f"{c.number} {c.title}")
        return 0
    if not cases:
        print(f"conformance: no case matches {args.case}", file=sys.stderr)
        return 2
    run = Run(args)
    passed = failed = 0
    for c in cases:
        if time.monotonic() >= run.run_deadline:
            why = "run time budget exceeded"
        else:
            ctx = CaseContext(run, c)
            try:
                c.fn(ctx)
                why = None
            except CaseFail as e:
                why = str(e)
            except OSError as e:
                why = f"{type(e).__name__}: {e}"
            finally:
                ctx.finish()
        if why is None:
            passed += 1
            print(f"ok   {c.number} {c.title}", flush=True)
        else:
            failed += 1
            print(f"FAIL {c.number} {c.title}: {why}", flush=True)
    print(f"conformance: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
