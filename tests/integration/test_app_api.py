"""The native app API, seen through examples/diag.cpp served by the installed binary."""
import json
import os
import re
import signal
import socket
import urllib.parse

import pytest

from conftest import RawReader, exchange, wait_for


@pytest.fixture
def diag(server):
    server.start("-w", "2", app="diag:app")
    return server


def test_echo_request_fields(diag):
    resp = exchange(diag, b"POST /echo?a=1&b=x%20y HTTP/1.1\r\nHost: example\r\n"
                             b"X-Zeta: last-first\r\nX-Alpha: 1\r\nx-alpha: 2\r\n"
                             b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/json"
    doc = json.loads(resp.body)
    assert doc["method"] == "POST"
    assert doc["target"] == "/echo?a=1&b=x%20y"
    assert doc["path"] == "/echo"
    assert doc["query"] == "a=1&b=x%20y"
    assert doc["version"] == "HTTP/1.1"
    assert doc["remote_addr"] == "127.0.0.1"
    assert doc["remote_port"] > 0
    assert doc["scheme"] == "http"
    assert doc["content_length"] == 5
    assert doc["headers"] == [["Host", "example"], ["X-Zeta", "last-first"], ["X-Alpha", "1"],
                              ["x-alpha", "2"], ["Content-Length", "5"],
                              ["Connection", "close"]]
    assert doc["body"] == "hello"


def test_echo_http10(diag):
    resp = exchange(diag, b"GET /echo HTTP/1.0\r\n\r\n", expect_close=True)
    assert json.loads(resp.body)["version"] == "HTTP/1.0"


def test_echo_chunked_request_body(diag):
    resp = exchange(diag, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n"
                             b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert resp.status == 200
    doc = json.loads(resp.body)
    assert doc["content_length"] == -1
    assert doc["body"] == "hello world"


def test_large_body_echoed(diag):
    body = os.urandom(200 * 1024)  # beyond the 64 KiB read before the app runs
    status, headers, got = diag.request("POST", "/body", body=body)
    assert status == 200
    assert len(got) == len(body)
    assert got == body


def test_large_chunked_body_echoed(diag):
    body = os.urandom(300 * 1024)
    conn = diag.connection()
    try:
        conn.request("POST", "/body", body=iter([body[i:i + 10000]
                                                 for i in range(0, len(body), 10000)]),
                     encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == body
    finally:
        conn.close()


def test_expect_100_continue(diag):
    with socket.create_connection(("127.0.0.1", diag.port), timeout=10) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        r = RawReader(s)
        interim = r.read_response("POST")
        assert interim.status_line == "HTTP/1.1 100 Continue"
        s.sendall(b"hello world")
        final = r.read_response("POST")
        assert final.status == 200
        assert final.body == b"hello world"


def test_stream_chunked(diag):
    resp = exchange(diag, b"GET /stream?chunks=5&size=1000&ms=10 HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n", expect_close=True)
    assert resp.status == 200
    assert resp.header("Transfer-Encoding") == "chunked"
    assert resp.header("Content-Length") is None
    assert resp.body == b"x" * 5000


def test_stream_keepalive_then_next_request(diag):
    conn = diag.connection()
    try:
        conn.request("GET", "/stream?chunks=3&size=7")
        resp = conn.getresponse()
        assert resp.read() == b"x" * 21
        assert not resp.will_close
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, World!\n"
    finally:
        conn.close()


def test_stream_http10_close_delimited(diag):
    resp = exchange(diag, b"GET /stream?chunks=4&size=100 HTTP/1.0\r\n\r\n")
    assert re.match(r"HTTP/1\.[01] 200 ", resp.status_line), resp.status_line
    assert resp.header("Transfer-Encoding") is None
    assert resp.header("Content-Length") is None
    assert resp.body == b"x" * 400


def test_file_served(diag, tmp_path):
    data = os.urandom(300 * 1024 + 7)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    status, headers, body = diag.request("GET", "/file?path=" + urllib.parse.quote(str(path)))
    assert status == 200
    assert headers["Content-Length"] == str(len(data))
    assert body == data
    assert diag.request("GET", "/file?path=/nonexistent")[0] == 404


def test_header_set_by_app(diag):
    status, headers, body = diag.request("GET", "/header?name=X-Custom&value=abc%20def")
    assert (status, body) == (200, b"ok\n")
    assert headers["X-Custom"] == "abc def"


def test_header_with_crlf_dropped(diag):
    resp = exchange(diag, b"GET /header?name=X-Evil&value=a%0D%0AInjected:%201 HTTP/1.1\r\n"
                             b"Host: x\r\nConnection: close\r\n\r\n")
    assert resp.status == 200
    assert resp.body == b"ok\n"
    assert "x-evil" not in resp.names()
    assert "injected" not in resp.names()
    wait_for(lambda: diag.log_has("Dropping invalid response header"), what="drop logged")


def test_app_cannot_set_framing_headers(diag):
    status, headers, body = diag.request("GET", "/header?name=Content-Length&value=999")
    assert (status, body) == (200, b"ok\n")
    assert headers["Content-Length"] == "3"


def test_worker_start_hook_ran(diag):
    for _ in range(4):
        assert diag.request("GET", "/started")[2] == b"1\n"


def test_worker_stop_hook_on_term(server, tmp_path):
    stop_file = str(tmp_path / "stops.txt")
    server.start("-w", "2", "--graceful-timeout", "5", app="diag:app",
                 env={"DIAG_STOP_FILE": stop_file})
    pids = server.wait_workers(2)
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    with open(stop_file) as f:
        lines = f.read().splitlines()
    assert sorted(lines) == sorted(f"stop {p}" for p in pids)


def test_status_without_body(diag):
    resp, not_modified, last = exchange(
        diag, b"GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /status?code=304 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", count=3)
    assert resp.status == 204
    assert resp.header("Content-Length") is None
    assert not_modified.status == 304
    assert (last.status, last.body) == (200, b"Hello, World!\n")


def test_big_buffered_response(diag):
    status, headers, body = diag.request("GET", "/bytes?n=3000000")
    assert status == 200
    assert headers["Content-Length"] == "3000000"
    assert body == b"x" * 3000000


def test_default_headers(diag):
    resp = exchange(diag, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", resp.header("Date"))
    assert resp.header("Server")


def test_unknown_route_404_keeps_connection(diag):
    conn = diag.connection()
    try:
        conn.request("GET", "/nope")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (404, b"not found\n")
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_client_gone_during_stream_worker_survives(diag):
    with socket.create_connection(("127.0.0.1", diag.port), timeout=10) as s:
        s.sendall(b"GET /stream?chunks=200&size=65536&ms=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1000)
    # The worker notices on a later write and goes back to serving.
    for _ in range(6):
        assert diag.request("GET", "/")[0] == 200
    assert diag.proc.poll() is None
    assert len(diag.workers()) == 2


def test_head_of_streamed_response_keeps_connection_in_sync(diag):
    with socket.create_connection(("127.0.0.1", diag.port), timeout=10) as s:
        s.sendall(b"HEAD /stream?chunks=3&size=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = RawReader(s)
        head = r.read_response("HEAD")
        assert head.status == 200
        nxt = r.read_response()
        assert (nxt.status, nxt.body) == (200, b"Hello, World!\n"), r.buf[:100]
        assert r.at_eof()


def test_expect_100_continue_not_read_by_app(diag):
    """The app answers without reading the body: no 100 Continue, and the unsent body can
    never be taken for the next request (the server closes, or reads and discards it)."""
    with socket.create_connection(("127.0.0.1", diag.port), timeout=10) as s:
        s.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = RawReader(s)
        resp = r.read_response("POST")
        assert resp.status == 200, resp.status_line
        assert resp.body == b"Hello, World!\n"
        print("Connection:", resp.header("Connection"))
        # A client that sends the body anyway must not get a response to "GET /smuggled".
        try:
            s.sendall(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return
        try:
            r.sock.settimeout(5)
            rest = r.buf + r.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            rest = b""
        assert b"HTTP/1.1 404" not in rest, rest
