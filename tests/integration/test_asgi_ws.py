"""WebSockets on the asgi worker (-k asgi) through the real binary: the handshake as an ASGI
websocket scope, the app's accept (subprotocol, headers) or denial (403), text and binary
messages, fragments, ping/pong answered by the server, close codes both ways, strict frames
(each violation closes with its code and the worker lives on), ws_max_size (1009), a FastAPI
WebSocket route, and the going-away (1001) and restart (1012) closes. Clients: Debian's
python3-websockets, and raw sockets for what a proper client never sends
(apps/asgi_ws.py, apps/fastapi_ws.py)."""
import asyncio
import base64
import json
import os
import signal
import socket
import struct

import pytest

from conftest import exited, wait_for
from test_asgi import APPS, ENV, start

websockets = pytest.importorskip("websockets")


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(server, path):
    return f"ws://127.0.0.1:{server.port}{path}"


@pytest.fixture
def ws_server(server):
    return start(server, "asgi_ws:app", "--ws-max-size", "4096")


def events(server):
    return json.loads(server.request("GET", "/events")[2])


def worker_pid(server):
    return int(server.request("GET", "/pid")[2])


# -- raw frames ----------------------------------------------------------------------------

def frame(op, payload, fin=True, mask=True, rsv=0):
    """A client frame; mask=False and rsv break the rules on purpose."""
    n = len(payload)
    b1 = 0x80 if mask else 0
    if n < 126:
        head = bytes([(0x80 if fin else 0) | rsv | op, b1 | n])
    elif n < 65536:
        head = bytes([(0x80 if fin else 0) | rsv | op, b1 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([(0x80 if fin else 0) | rsv | op, b1 | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


class RawWs:
    """A WebSocket client on a plain socket: the handshake, then frames as bytes."""

    def __init__(self, server, path="/echo", extra=""):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed during the handshake: {buf!r}"
            buf += chunk
        self.head, self.buf = buf.split(b"\r\n\r\n", 1)

    def send(self, data):
        self.sock.sendall(data)

    def frame(self):
        """The next server frame as (opcode, payload), or None at EOF."""
        while True:
            if len(self.buf) >= 2:
                assert self.buf[1] & 0x80 == 0, "server frames are never masked"
                n, at = self.buf[1] & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, at = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
                if n < 126 or at > 2:
                    if len(self.buf) >= at + n:
                        op, payload = self.buf[0] & 0x0F, self.buf[at:at + n]
                        self.buf = self.buf[at + n:]
                        return op, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def close_code(self):
        """Reads to the server's close frame; its code. Then the server ends TCP."""
        while (f := self.frame()) is not None:
            if f[0] == 8:
                code = struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else None
                assert self.sock.recv(100) == b"", "the server closes TCP after its close"
                return code
        raise AssertionError("no close frame")

    def close(self):
        self.sock.close()


# -- the handshake -------------------------------------------------------------------------

def test_scope(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/scope?room=1"),
                                      subprotocols=["a", "b"]) as ws:
            return json.loads(await ws.recv())
    scope = run(go())
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/scope", "/scope", "room=1")
    assert scope["root_path"] == ""
    assert scope["subprotocols"] == ["a", "b"]
    assert "method" not in scope
    assert ["upgrade", "websocket"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", ws_server.port]
    assert "state" not in scope or scope["state"] is None


def test_subprotocol_and_headers_on_accept(ws_server):
    async def go(offer):
        async with websockets.connect(url(ws_server, "/subprotocol"), subprotocols=offer) as ws:
            return ws.subprotocol, ws.response_headers.get("x-app")
    assert run(go(["superchat", "chat"])) == ("chat", "yes")
    assert run(go(["other"])) == (None, "yes")


def test_close_before_accept_is_403(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/deny")):
            pass
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(go())
    assert e.value.status_code == 403
    assert worker_pid(ws_server) > 0


def test_invalid_handshakes_are_refused_without_the_app(ws_server):
    for version, status in (("12", b"426"), ("13\r\nSec-WebSocket-Version: 13", b"400")):
        sock = socket.create_connection(("127.0.0.1", ws_server.port), timeout=10)
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                     b"Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: " + version.encode() + b"\r\n\r\n")
        answer = sock.recv(4096)
        sock.close()
        assert answer.split(b" ")[1] == status, answer
        if status == b"426":
            assert b"Sec-WebSocket-Version: 13" in answer
    assert events(ws_server) == []  # the app never saw them


# -- messages ------------------------------------------------------------------------------

def test_echo_text_binary_fragments_and_ping(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/echo"), max_size=None) as ws:
            await ws.send("héllo")
            text = await ws.recv()
            await ws.send(b"\x00\x01\xff")
            data = await ws.recv()
            await ws.send(["frag", "men", "ted"])  # one message in three frames
            fragmented = await ws.recv()
            pong = await ws.ping(b"are you there")
            await pong  # answered by the server itself
            return text, data, fragmented
    assert run(go()) == ("héllo", b"\x00\x01\xff", "fragmented")


def test_many_messages_and_backpressure(server):
    # Well past both high-water marks (64 KiB): reading pauses while the app lags, and the
    # app's sends wait for the socket; every message still comes back whole and in order.
    start(server, "asgi_ws:app")
    messages = [os.urandom(20_000) for _ in range(100)] + [os.urandom(3_000_000)]

    async def go():
        async with websockets.connect(url(server, "/echo"), max_size=None) as ws:
            for m in messages:
                await ws.send(m)
            return [await ws.recv() for _ in messages]
    assert run(go(), timeout=60) == messages


def test_raw_fragments_ping_pong_and_close_echo(ws_server):
    ws = RawWs(ws_server)
    assert ws.head.startswith(b"HTTP/1.1 101")
    # A ping between the fragments of a message is answered at once; a pong is ignored.
    ws.send(frame(9, b"abc") + frame(10, b"unsolicited") + frame(1, b"he", fin=False)
            + frame(9, b"mid") + frame(0, b"l", fin=False) + frame(0, b"lo"))
    assert [ws.frame(), ws.frame(), ws.frame()] == [(10, b"abc"), (10, b"mid"), (1, b"hello")]
    ws.send(frame(8, struct.pack("!H", 4005) + b"ok"))
    assert ws.close_code() == 4005  # the echo of our close
    ws.close()
    wait_for(lambda: ["disconnect", "/echo", 4005] in events(ws_server), what="disconnect")


def test_close_codes_both_ways(ws_server):
    async def client_closes():
        async with websockets.connect(url(ws_server, "/echo")) as ws:
            await ws.close(4001, "done")

    async def server_closes():
        async with websockets.connect(url(ws_server, "/close")) as ws:
            await ws.send("x")
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.code, e.value.reason
    run(client_closes())
    assert run(server_closes()) == (4000, "bye")
    wait_for(lambda: {("/echo", 4001), ("/close", 4000)} <= {
        (p, c) for _, p, c in events(ws_server)}, what="both disconnects")


def test_app_exception_after_accept_is_1011(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/boom")) as ws:
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.code
    pid = worker_pid(ws_server)
    assert run(go()) == 1011
    wait_for(lambda: ws_server.log_has("ValueError: boom from the WebSocket app"),
             what="traceback logged")
    assert worker_pid(ws_server) == pid


# -- strict frames ---------------------------------------------------------------------------

BAD_FRAMES = {
    "unmasked": (frame(1, b"hi", mask=False), 1002),
    "reserved bit": (frame(1, b"hi", rsv=0x40), 1002),
    "fragmented ping": (frame(9, b"x", fin=False), 1002),
    "ping over 125 bytes": (frame(9, b"x" * 126), 1002),
    "unknown opcode": (frame(3, b"x"), 1002),
    "continuation first": (frame(0, b"x"), 1002),
    "bad UTF-8": (frame(1, b"\xff\xfe"), 1007),
    "bad UTF-8 across fragments": (frame(1, b"caf\xc3", fin=False) + frame(0, b"("), 1007),
    "over ws_max_size": (frame(2, b"x" * 4097), 1009),
    "over ws_max_size in fragments": (frame(2, b"x" * 4000, fin=False)
                                      + frame(0, b"x" * 97), 1009),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frame_closes_with_its_code_and_worker_lives(ws_server, name):
    data, code = BAD_FRAMES[name]
    pid = worker_pid(ws_server)
    ws = RawWs(ws_server)
    ws.send(data)
    assert ws.close_code() == code
    ws.close()
    wait_for(lambda: ["disconnect", "/echo", code] in events(ws_server), what="disconnect")
    assert worker_pid(ws_server) == pid  # same worker, still serving


def test_largest_message_passes(ws_server):
    ws = RawWs(ws_server)
    ws.send(frame(2, b"y" * 4096))
    assert ws.frame() == (2, b"y" * 4096)
    ws.close()


def test_wss_over_tls(server, tmp_path_factory):
    # The same frames over TLS (scheme wss), big enough for partial TLS writes.
    from test_tls import Pki
    pki = Pki(str(tmp_path_factory.mktemp("pki")))
    server.start("-b", f"https://127.0.0.1:{server.port}", *pki.server_args(), "-w", "1",
                 "-k", "asgi", "--app-path", APPS, app="asgi_ws:app", bind=False, env=ENV)
    big = os.urandom(1_000_000)

    async def go():
        tls = {"ssl": pki.client_context(), "server_hostname": "localhost"}
        async with websockets.connect(f"wss://127.0.0.1:{server.port}/scope", **tls) as ws:
            scheme = json.loads(await ws.recv())["scheme"]
        async with websockets.connect(f"wss://127.0.0.1:{server.port}/echo", max_size=None,
                                      **tls) as ws:
            await ws.send(big)
            await ws.send("after")
            return scheme, await ws.recv() == big, await ws.recv()
    assert run(go()) == ("wss", True, "after")


def test_worker_connections_counts_open_websockets(server):
    # Two open WebSockets fill --worker-connections 2: a third client waits in the listen
    # queue until one of them closes, then it is served.
    from test_asgi import listen_queue
    start(server, "asgi_ws:app", "--worker-connections", "2")

    async def go():
        a = await websockets.connect(url(server, "/echo"))
        b = await websockets.connect(url(server, "/echo"))
        third = asyncio.ensure_future(websockets.connect(url(server, "/echo")))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: wait_for(
            lambda: listen_queue(server.port) == 1, what="the third client queued"))
        assert not third.done()
        await a.close()
        c = await third
        await c.send("third")
        reply = await c.recv()
        await b.close()
        await c.close()
        return reply
    assert run(go()) == "third"


# -- a framework ---------------------------------------------------------------------------

def test_fastapi_websocket_route(server):
    pytest.importorskip("fastapi")
    start(server, "fastapi_ws:app")

    async def go():
        async with websockets.connect(url(server, "/rooms/lobby?nick=ann")) as ws:
            joined = await ws.recv()
            await ws.send("hi")
            said = await ws.recv()
        async with websockets.connect(url(server, "/json")) as ws:
            await ws.send(json.dumps({"numbers": [1, 2, 3]}))
            reply = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
        return joined, said, reply, e.value.code
    assert run(go()) == ("ann joined lobby", "ann@lobby: hi",
                         {"got": {"numbers": [1, 2, 3]}, "sum": 6}, 4002)
    wait_for(lambda: json.loads(server.request("GET", "/disconnects")[2]) == [1000],
             what="WebSocketDisconnect in the route")


# -- stopping --------------------------------------------------------------------------------

def open_then(server, action):
    """Opens a WebSocket, checks it echoes, runs action(); the close code the client sees."""
    async def go():
        async with websockets.connect(url(server, "/echo")) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            await asyncio.get_running_loop().run_in_executor(None, action)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.code
    return run(go(), timeout=30)


def test_term_closes_websockets_with_1001(ws_server):
    assert open_then(ws_server, lambda: ws_server.signal(signal.SIGTERM)) == 1001
    assert ws_server.wait_exit() == 0


def test_hup_closes_websockets_with_1012(ws_server):
    old = ws_server.workers()
    assert open_then(ws_server, lambda: ws_server.signal(signal.SIGHUP)) == 1012
    wait_for(lambda: ws_server.workers() and not (ws_server.workers() & old),
             what="the new generation alone")


def test_usr2_closes_the_old_workers_websockets_with_1012(server, tmp_path):
    # The new master serves when the old one stops its workers: that is a restart.
    pidfile = str(tmp_path / "cppicorn.pid")
    start(server, "asgi_ws:app", "-p", pidfile)
    old = server.proc.pid
    new = 0
    try:
        assert open_then(server, lambda: server.signal(signal.SIGUSR2)) == 1012
        assert server.wait_exit() == 0  # the old master handed over and drained
        with open(pidfile) as f:
            new = int(f.read())
        assert new != old
        assert server.request("GET", "/pid")[0] == 200  # the new master's workers serve
    finally:
        if new:
            os.kill(new, signal.SIGINT)
            wait_for(lambda: exited(new), what="the new master's exit")


def test_max_requests_closes_websockets_with_1012(server):
    # The third request on a keep-alive connection recycles the worker: the WebSocket opened
    # before it goes with 1012 (restart), not 1001.
    start(server, "asgi_ws:app", "--max-requests", "3")
    conn = server.connection()
    conn.request("GET", "/pid")
    conn.getresponse().read()

    def two_more():
        for _ in range(2):
            conn.request("GET", "/pid")
            conn.getresponse().read()
    try:
        assert open_then(server, two_more) == 1012
    finally:
        conn.close()
