"""Round-trips against examples/echo with Python's `websockets` (Debian
python3-websockets): text, binary, Cyrillic and emoji, a 1 MiB message,
ping/pong, and a clean close; with compression, a message inflating past
the server's ratio bound ends in 1009. Usage: echo_python.py
ws://127.0.0.1:PORT/ [MODE]

MODE says what is offered and what the server must answer:
  offer    (default) websockets' default permessage-deflate offer, which a
           server without compression leaves unanswered;
  plain    no offer at all (compression=None);
  deflate  the default offer, which the server must accept."""
import asyncio
import os
import sys

import websockets


async def main(url, mode):
    compression = None if mode == "plain" else "deflate"
    async with websockets.connect(url, max_size=2 << 20, open_timeout=5,
                                  close_timeout=5,
                                  compression=compression) as ws:
        answer = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        if mode == "deflate":
            assert answer.startswith("permessage-deflate"), f"answer {answer!r}"
        else:
            assert answer == "", f"unexpected extension answer {answer!r}"
        cases = [
            "hello",
            "",
            "Привет, мир! 👋",
            b"\x00\x01\x02\xff",
            b"",
            os.urandom(1 << 20),
            # Over 64 KiB, compressible as text is (not one repeated
            # character: that is over the server's inflate ratio bound).
            "".join(f"line {i}: GET /items/{i * 7919 % 100000} 200\n"
                    for i in range(3000))[:70000],
        ]
        for sent in cases:
            await ws.send(sent)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert type(got) is type(sent), f"type {type(got)} for {type(sent)}"
            assert got == sent, f"payload of {len(sent)} differs"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, f"close code {ws.close_code}"
    if mode == "deflate":
        # 1 MiB of one character is about 1 KiB compressed: 1009.
        async with websockets.connect(url, open_timeout=5, close_timeout=5,
                                      compression="deflate") as ws:
            await ws.send("x" * (1 << 20))
            try:
                await asyncio.wait_for(ws.recv(), 10)
                raise AssertionError("a 1000:1 message was echoed")
            except websockets.exceptions.ConnectionClosed as e:
                assert e.rcvd.code == 1009, f"close {e.rcvd}"
    print(f"python websockets {websockets.__version__} ({mode}"
          f"{': ' + answer if answer else ''}): "
          f"{len(cases)} round trips, ping, close 1000 ok"
          f"{', 1000:1 message refused with 1009' if mode == 'deflate' else ''}")


if __name__ == "__main__":
    mode = sys.argv[2] if len(sys.argv) > 2 else "offer"
    asyncio.run(asyncio.wait_for(main(sys.argv[1], mode), 60))
