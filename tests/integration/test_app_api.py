"""The native app API, seen through examples/diag.cpp served by the installed binary."""
import json
import os
import signal
import socket
import urllib.parse

import pytest

from conftest import exchange, in_sleep, wait_for


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


def test_worker_start_hook_ran_in_every_worker(diag):
    """worker_start ran in each of the 2 workers: ask one worker (on its connection), then
    keep it busy in the app so that a new connection can only reach the other."""
    a = diag.connection()
    a.request("GET", "/pid")
    pid_a = int(a.getresponse().read())
    a.request("GET", "/started")
    assert a.getresponse().read() == b"1\n"
    a.request("GET", "/sleep?ms=3000")
    wait_for(lambda: in_sleep(pid_a), what="worker A busy in the app")
    b = diag.connection()
    b.request("GET", "/pid")
    pid_b = int(b.getresponse().read())
    b.request("GET", "/started")
    assert b.getresponse().read() == b"1\n"
    assert {pid_a, pid_b} == diag.workers()
    a.getresponse().read()
    a.close()
    b.close()


def stops(path):
    try:
        with open(path) as f:
            return sorted(int(x.split()[1]) for x in f.read().splitlines())
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("how", ["term", "hup", "ttou", "max_requests", "int", "quit",
                                 "timeout"])
def test_worker_stop_hook_per_kind_of_exit(server, tmp_path, how):
    """cppicorn-app(3): worker_stop runs when a worker stops gracefully (TERM, HUP's and
    TTOU's retirement, max_requests), not on a fast stop (INT, QUIT) or a timeout kill."""
    stop_file = str(tmp_path / "stops.txt")
    workers = 1 if how in ("max_requests", "timeout") else 2
    args = ["-w", str(workers), "--graceful-timeout", "5", "-t", "1" if how == "timeout" else "30"]
    if how == "max_requests":
        args += ["--max-requests", "3", "--max-requests-jitter", "0"]
    server.start(*args, app="diag:app", env={"DIAG_STOP_FILE": stop_file})
    pids = server.wait_workers(workers)
    if how == "term":
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
        assert stops(stop_file) == sorted(pids)
    elif how in ("int", "quit"):
        server.signal(signal.SIGINT if how == "int" else signal.SIGQUIT)
        assert server.wait_exit() == 0
        assert stops(stop_file) == []
    elif how == "hup":
        server.signal(signal.SIGHUP)
        wait_for(lambda: len(server.workers()) == 2 and not server.workers() & pids,
                 what="the old generation gone")
        wait_for(lambda: stops(stop_file) == sorted(pids), what="worker_stop in both old ones")
    elif how == "ttou":
        server.signal(signal.SIGTTOU)
        (left,) = server.wait_workers(1)
        (gone,) = pids - {left}
        wait_for(lambda: stops(stop_file) == [gone], what="worker_stop in the retired one")
    elif how == "max_requests":
        (first,) = pids
        for _ in range(3):  # the harness's readiness probe was one of them
            server.request("GET", "/")
        wait_for(lambda: first not in server.workers(), what="the worker recycled")
        wait_for(lambda: stops(stop_file) == [first], what="worker_stop in the recycled one")
    else:
        (first,) = pids
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(30)
            assert s.recv(100) == b""
        wait_for(lambda: first not in server.workers() and len(server.workers()) == 1,
                 what="the timed-out worker replaced")
        # Its replacement's stop would come at the test's end: only the killed one counts.
        assert first not in stops(stop_file)
        assert stops(stop_file) == []


def test_big_buffered_response(diag):
    status, headers, body = diag.request("GET", "/bytes?n=3000000")
    assert status == 200
    assert headers["Content-Length"] == "3000000"
    assert body == b"x" * 3000000


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
    before = diag.wait_workers(2)
    with socket.create_connection(("127.0.0.1", diag.port), timeout=10) as s:
        s.sendall(b"GET /stream?chunks=200&size=65536&ms=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1000)
    # The worker notices on a later write and goes back to serving: the same two workers
    # (a crash and respawn would change a pid).
    for _ in range(6):
        assert diag.request("GET", "/")[0] == 200
    assert diag.proc.poll() is None
    assert diag.workers() == before
    assert "was sent" not in diag.log()
