#!/usr/bin/env python3
"""tests/examples/drop_proxy.py - a TCP proxy that cuts its first
connection after DROP_MS: a network that fails once, for resume tests.

usage: drop_proxy.py TARGET_PORT DROP_MS
Listens on 127.0.0.1, port 0; prints "listening on PORT"; forwards every
connection to 127.0.0.1:TARGET_PORT. Runs until killed (at most 60 s)."""
import socket
import sys
import threading
import time

target, drop_s = int(sys.argv[1]), int(sys.argv[2]) / 1000.0
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(8)
print("listening on", lsock.getsockname()[1], flush=True)


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(n, conn):
    up = socket.create_connection(("127.0.0.1", target))
    for a, b in ((conn, up), (up, conn)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
    if n == 0:
        time.sleep(drop_s)
        for s in (conn, up):
            s.shutdown(socket.SHUT_RDWR)


lsock.settimeout(60)
n = 0
try:
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(n, conn), daemon=True).start()
        n += 1
except (socket.timeout, KeyboardInterrupt):
    pass
