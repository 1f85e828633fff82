# The python3-websockets client run by interop_test.cpp against its C++ echo server.
# Usage: websockets_client.py PORT. Prints "ok" when every exchange went as expected.
import asyncio
import sys

import websockets


async def echo_session(uri):
    # The default offer includes permessage-deflate; the server must ignore it.
    async with websockets.connect(uri, subprotocols=["other", "echo.v1"], max_size=None) as ws:
        assert ws.subprotocol == "echo.v1", ws.subprotocol
        assert ws.extensions == [], ws.extensions
        await ws.send("héllo €")
        assert await ws.recv() == "héllo €"
        big = bytes(range(256)) * 400  # 102400 bytes: a 64-bit length
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send(["frag", "mented ", "téxt"])  # one message in three frames
        assert await ws.recv() == "fragmented téxt"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        await ws.close(4000, "done")
    assert ws.close_code == 4000, ws.close_code  # the server echoed our code
    assert ws.close_reason == "done", ws.close_reason


async def server_closes(uri):
    async with websockets.connect(uri) as ws:
        assert ws.subprotocol is None
        await ws.send("close please")
        try:
            await ws.recv()
            raise AssertionError("expected the server to close")
        except websockets.ConnectionClosedOK as e:
            assert e.rcvd.code == 1001 and e.rcvd.reason == "going away", e.rcvd


async def main(port):
    uri = f"ws://127.0.0.1:{port}/echo"
    await asyncio.wait_for(echo_session(uri), 10)
    await asyncio.wait_for(server_closes(uri), 10)
    print("ok")


asyncio.run(main(int(sys.argv[1])))
