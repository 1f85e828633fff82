"""HTTP/1.x basics through the installed binary: keep-alive, HTTP/1.0, HEAD, pipelining and a
malformed request, with http.client and raw sockets."""
import json
import re
import socket

from conftest import RawReader


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def test_hello_keepalive_http_client(server):
    server.start("-w", "1", app="diag:app")
    conn = server.connection()
    try:
        ports = set()
        for i in range(5):
            conn.request("GET", f"/echo?i={i}")
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            assert resp.status == 200
            assert not resp.will_close, resp.getheaders()
            assert doc["query"] == f"i={i}"
            ports.add(doc["remote_port"])
        # One client port for all five: the server kept the connection open between them.
        assert len(ports) == 1, ports
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.read() == b"Hello, World!\n"
    finally:
        conn.close()


def test_hello_keepalive_hello_app(server):
    server.start("-w", "2")
    conn = server.connection()
    try:
        sock = None
        for _ in range(4):
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"Hello, World!\n")
            assert resp.getheader("Connection", "").lower() != "close"
            sock = sock or conn.sock
            assert conn.sock is sock, "http.client had to reconnect"
    finally:
        conn.close()


def test_http10_gets_body_and_close(server):
    server.start("-w", "1")
    with connect(server) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        r = RawReader(s)
        resp = r.read_response()
        assert re.match(r"HTTP/1\.[01] 200 ", resp.status_line), resp.status_line
        assert resp.body == b"Hello, World!\n"
        assert r.at_eof(), "HTTP/1.0 without keep-alive: the server must close"


def test_malformed_request_400_and_worker_lives(server):
    server.start("-w", "1", app="diag:app")
    pid_before = server.request("GET", "/pid")[2]
    with connect(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        r = RawReader(s)
        resp = r.read_response()
        assert resp.status == 400, resp.status_line
        assert (resp.header("Connection") or "").lower() == "close"
        assert r.at_eof()
    assert server.request("GET", "/pid")[2] == pid_before


def test_slow_head_gets_408(server):
    server.start("-w", "1", "--header-timeout", "1")
    with connect(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        r = RawReader(s)
        resp = r.read_response()
        assert resp.status == 408
        assert r.at_eof()
    assert server.request("GET", "/")[0] == 200


def test_limits_rejected_and_worker_lives(server):
    server.start("-w", "1", "--limit-request-line", "100", "--limit-request-fields", "5",
                 "--limit-request-body", "1000", app="diag:app")
    pid_before = server.request("GET", "/pid")[2]
    cases = [
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10)) + b"\r\n", 431),
        (b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ]
    for data, status in cases:
        with connect(server) as s:
            s.sendall(data)
            r = RawReader(s)
            resp = r.read_response()
            assert resp.status == status, (data[:40], resp.status_line)
            assert (resp.header("Connection") or "").lower() == "close"
            assert r.at_eof()
    assert server.request("GET", "/pid")[2] == pid_before
