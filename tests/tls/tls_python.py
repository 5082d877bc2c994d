"""TLS, authentication and origin checks against the examples with Python's
`websockets` (Debian python3-websockets) and an ssl context that trusts the
test CA. Usage:
  tls_python.py echo  CA wss://127.0.0.1:PORT/ ws://127.0.0.1:PLAIN/
  tls_python.py auth  CA wss://127.0.0.1:PORT/ TOKEN SECRET
  tls_python.py origin ws://127.0.0.1:PORT/ ALLOWED_ORIGIN
Prints one line per check; exits non-zero on the first failure."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import ssl
import sys
import time

import websockets
from websockets.exceptions import InvalidStatusCode

TIMEOUT = dict(open_timeout=5, close_timeout=5)


def ctx_for(ca):
    ctx = ssl.create_default_context(cafile=ca)  # verification and host check on
    return ctx


async def echo(ca, url, plain_url):
    for u, extra in ((url, {"ssl": ctx_for(ca)}), (plain_url, {})):
        async with websockets.connect(u, max_size=2 << 20, **extra, **TIMEOUT) as ws:
            for sent in ["hello", "Привет 👋", b"\x00\xff" * 10, os.urandom(1 << 20), "x" * 70000]:
                await ws.send(sent)
                got = await asyncio.wait_for(ws.recv(), 10)
                assert got == sent, f"{u}: payload of {len(sent)} differs"
            await ws.close(1000, "bye")
            assert ws.close_code == 1000, f"close code {ws.close_code}"
        print(f"ok - python websockets {websockets.__version__} echo over {u.split(':')[0]}://")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret, claims, alg="HS256", sign=True):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if not sign:
        return f"{head}.{body}."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(sig)}"


async def expect_status(url, status, **kw):
    try:
        async with websockets.connect(url, **kw, **TIMEOUT):
            pass
    except InvalidStatusCode as e:
        assert e.status_code == status, f"got {e.status_code}, wanted {status}"
        return
    raise AssertionError(f"{url[:60]}... opened; wanted {status}")


async def expect_user(url, user, **kw):
    async with websockets.connect(url, **kw, **TIMEOUT) as ws:
        hello = await asyncio.wait_for(ws.recv(), 5)
        assert hello == f"hello {user}", hello
        await ws.send("hi")
        got = await asyncio.wait_for(ws.recv(), 5)
        assert got == f"{user}: hi", got
        await ws.close()


def noncanonical(tok):
    """The same token with the signature's last character changed in its
    unused low bits only (43 characters for 32 bytes: 2 bits unused), so
    that it still decodes to the same bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(tok[-1])
    assert last & 3 == 0
    return tok[:-1] + alphabet[last | 1]


async def auth(ca, url, made, secret):
    ssl_ctx = ctx_for(ca)
    now = int(time.time())
    good = {"sub": "bob", "exp": now + 300}
    await expect_user(f"{url}?token={made}", "alice", ssl=ssl_ctx)
    print("ok - token from auth --make-token in ?token= opens, on_open sees alice")
    await expect_user(url, "bob", ssl=ssl_ctx,
                      extra_headers={"Authorization": "Bearer " + token(secret, good)})
    print("ok - Authorization: Bearer token opens, the user is the sub claim")
    bad = {
        "missing token": url,
        "empty token": f"{url}?token=",
        "malformed": f"{url}?token=abc.def",
        "bad signature": f"{url}?token=" + token(secret + "x", good),
        "alg none": f"{url}?token=" + token(secret, good, alg="none", sign=False),
        "alg HS512": f"{url}?token=" + token(secret, good, alg="HS512"),
        "expired": f"{url}?token=" + token(secret, {"sub": "bob", "exp": now - 10}),
        "no exp": f"{url}?token=" + token(secret, {"sub": "bob"}),
        "non-canonical base64url signature": f"{url}?token=" + noncanonical(token(secret, good)),
        "control characters in the name": f"{url}?token="
        + token(secret, {"sub": "bob", "name": "ev\u0001il\nname", "exp": now + 300}),
        "bidi override in the name": f"{url}?token="
        + token(secret, {"sub": "bob", "name": "\u202eevil", "exp": now + 300}),
    }
    for what, u in bad.items():
        await expect_status(u, 401, ssl=ssl_ctx)
        print(f"ok - {what}: 401")
    await expect_status(url, 401, ssl=ssl_ctx,
                        extra_headers={"Authorization": "Bearer " + token(secret, good, alg="none", sign=False)})
    print("ok - alg none in a Bearer header: 401")


async def origin(url, allowed):
    async with websockets.connect(url, origin=allowed, **TIMEOUT) as ws:
        await ws.close()
    print(f"ok - origin {allowed} connects")
    await expect_status(url, 403, origin="https://evil.example")
    print("ok - another origin: 403")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"echo": echo, "auth": auth, "origin": origin}[cmd]
    asyncio.run(asyncio.wait_for(fn(*args), 60))
