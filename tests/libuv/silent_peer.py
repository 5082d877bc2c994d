#!/usr/bin/env python3
"""A WebSocket client that never answers pings: it must receive a ping
from the server within 2 s and then be dropped (EOF) within 3 s more,
which only happens if the server's heartbeat timers fire. Prints what it
saw; exits 0 on ping-then-drop. usage: silent_peer.py HOST PORT PATH"""
import base64, os, socket, sys, time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("closed during the handshake")
    buf += chunk
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]:
    sys.exit("no 101: %r" % head[:40])
start, pinged = time.monotonic(), None
s.settimeout(0.2)
while time.monotonic() - start < 5:
    while len(buf) >= 2:  # server frames are unmasked; the chat's are short
        n = buf[1] & 0x7F
        hdr = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        if n >= 126:
            if len(buf) < hdr:
                break
            n = int.from_bytes(buf[2:hdr], "big")
        if len(buf) < hdr + n:
            break
        if buf[0] & 0x0F == 0x9 and pinged is None:
            pinged = time.monotonic() - start
        buf = buf[hdr + n:]
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        chunk = b""
    if not chunk:
        if pinged is None:
            sys.exit("dropped without a ping")
        print("ping after %.1f s, dropped after %.1f s" % (pinged, time.monotonic() - start))
        sys.exit(0)
    buf += chunk
sys.exit("no drop within 5 s (ping at %s)" % pinged)
