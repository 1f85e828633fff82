"""The asgi worker's WebSocket keepalive and HTTP denials, through the real binary: the
server pings a silent WebSocket every ws_ping_interval, an answer (any byte) keeps it open,
and a ping left unanswered for ws_ping_timeout closes it with 1011 while the worker lives on;
the websocket.http.response extension lets the app refuse a handshake with a response of its
own (status, headers, a streamed body). Clients: raw sockets (test_asgi_ws.RawWs), so each
ping is seen on the wire, and Debian's python3-websockets (apps/asgi_ws.py)."""
import http.client
import json

import pytest

from conftest import wait_for
from test_asgi import start
from test_asgi_ws import RawWs, events, frame, worker_pid

pytest.importorskip("websockets")

PING, PONG, CLOSE = 9, 10, 8


@pytest.fixture
def pinging(server):
    # Pings soon after silence, so the tests wait briefly for each; the 2 s deadline is only
    # how long the client may take to answer. No assertion is on the time.
    return start(server, "asgi_ws:app", "--ws-ping-interval", "0.2", "--ws-ping-timeout", "2")


def until_data(ws):
    """The next frame that is not a ping, answering pings meanwhile (one may come before
    the app's echo when its loop is slow)."""
    while (f := ws.frame()) is not None and f[0] == PING:
        ws.send(frame(PONG, f[1]))
    return f


def test_answered_pings_keep_a_silent_websocket_open(pinging):
    ws = RawWs(pinging)
    assert ws.head.startswith(b"HTTP/1.1 101")
    for _ in range(3):
        assert ws.frame() == (PING, b"")  # nothing else comes on a silent WebSocket
        ws.send(frame(PONG, b""))
    ws.send(frame(1, b"still here"))
    assert until_data(ws) == (1, b"still here")
    ws.send(frame(CLOSE, b"\x03\xe8"))
    assert ws.close_code() == 1000
    ws.close()


def test_any_byte_answers_a_ping(pinging):
    ws = RawWs(pinging)
    assert ws.frame() == (PING, b"")
    ws.send(frame(1, b"data, not a pong"))  # proves the peer alive as well as a pong would
    # A second ping comes only once the first was answered (unanswered, the server closes
    # with 1011 instead): the echo and that ping, in either order, and no close.
    seen = [ws.frame(), ws.frame()]
    assert sorted(seen) == [(1, b"data, not a pong"), (PING, b"")]
    ws.send(frame(CLOSE, b"\x03\xe8"))
    assert ws.close_code() == 1000
    ws.close()


def test_an_unanswered_ping_closes_with_1011_and_the_app_hears_it(server):
    start(server, "asgi_ws:app", "--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.3")
    pid = worker_pid(server)
    ws = RawWs(server)
    assert ws.frame() == (PING, b"")
    assert ws.close_code() == 1011  # then the server ends TCP (close_code() checks the EOF)
    ws.close()
    wait_for(lambda: ["disconnect", "/echo", 1011] in events(server), what="the disconnect")
    assert worker_pid(server) == pid


def test_http_response_extension_refuses_with_the_apps_response(server):
    start(server, "asgi_ws:app")
    assert json.loads(server.request("GET", "/events")[2]) == []
    ws = RawWs(server, "/reject")
    head = ws.head.decode("latin-1").lower()
    assert head.startswith("http/1.1 401")
    assert "www-authenticate: token" in head
    assert "upgrade:" not in head and "sec-websocket-accept" not in head
    body = ws.buf
    while (chunk := ws.sock.recv(4096)):
        body += chunk
    # more_body without a Content-Length: chunked, one chunk per message
    assert "transfer-encoding: chunked" in head
    assert body == b"a\r\nno token, \r\n9\r\nno socket\r\n0\r\n\r\n"
    ws.close()
    wait_for(lambda: ["refused accept", "/reject"] in events(server), what="the app's end")
    # and through a real client: the status it reports is the app's
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/reject", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                            "Sec-WebSocket-Version": "13"})
    response = conn.getresponse()
    assert (response.status, response.read()) == (401, b"no token, no socket")
    conn.close()
