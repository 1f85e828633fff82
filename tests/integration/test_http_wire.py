"""The HTTP/1.1 engine on the wire, byte-exact through the installed binary: pipelining,
HEAD, bodiless statuses, chunked and close-delimited framing, HTTP/1.0 keep-alive,
Expect, absolute-form targets, Date and Server, and smuggling attempts from the conformance
cases (each rejected with its status while the worker lives on)."""
import email.utils
import json
import os
import re
import socket

import pytest

from conftest import ROOT, RawReader, exchange

CASES = os.path.join(ROOT, "tests", "conformance", "cases")


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


@pytest.fixture
def diag(server):
    return server.start("-w", "1", app="diag:app")


def test_pipelined_three_in_one_send_in_order(diag):
    with connect(diag) as s:
        s.sendall(b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                  b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        a, b, c = (r.read_response() for _ in range(3))
        assert json.loads(a.body)["query"] == "n=1"
        assert (b.status, b.body) == (200, b"hello")
        assert json.loads(c.body)["query"] == "n=3"
        # Still open after the three.
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.read_response().body == b"Hello, World!\n"


def test_head_has_length_but_no_body(diag):
    with connect(diag) as s:
        s.sendall(b"HEAD /bytes?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /stream?chunks=3&size=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        head = r.read_response("HEAD")
        assert (head.status, head.header("Content-Length")) == (200, "1000")
        streamed = r.read_response("HEAD")
        assert streamed.status == 200
        # No chunk may follow: the next bytes are the next response's status line.
        nxt = r.read_response()
        assert (nxt.status, nxt.body) == (200, b"Hello, World!\n"), r.buf[:80]


@pytest.mark.parametrize("code", [204, 304])
def test_bodiless_statuses(diag, code):
    with connect(diag) as s:
        s.sendall(f"GET /status?code={code} HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r = RawReader(s)
        resp = r.read_response()
        assert resp.status == code
        # RFC 9110 8.6: never for 204; a 304 may carry the selected representation's
        # length, and we send none.
        assert "content-length" not in resp.names()
        assert "transfer-encoding" not in resp.names()
        assert r.read_response().body == b"Hello, World!\n"


def test_chunked_stream_framing(diag):
    with connect(diag) as s:
        s.sendall(b"GET /stream?chunks=3&size=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        head = r.read_head()
        assert head[0].startswith("HTTP/1.1 200")
        names = {k.lower(): v for k, v in head[1]}
        assert names["transfer-encoding"] == "chunked" and "content-length" not in names
        assert r.read_exact(3 * (1 + 2 + 5 + 2) + 5) == b"5\r\nxxxxx\r\n" * 3 + b"0\r\n\r\n"
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.read_response().body == b"Hello, World!\n"


def test_http10_stream_is_close_delimited(diag):
    with connect(diag) as s:
        s.sendall(b"GET /stream?chunks=3&size=5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = RawReader(s)
        resp = r.read_response()
        assert resp.header("Connection").lower() == "close"
        assert "transfer-encoding" not in resp.names()
        assert "content-length" not in resp.names()
        assert resp.body == b"x" * 15


def test_http10_keepalive_honoured(diag):
    with connect(diag) as s:
        r = RawReader(s)
        for _ in range(2):
            s.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            resp = r.read_response()
            assert resp.header("Connection").lower() == "keep-alive"
            assert resp.body == b"Hello, World!\n"
        s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        assert r.read_response().header("Connection").lower() == "close"
        assert r.at_eof()


def test_expect_continue_sent_when_the_app_reads(diag):
    with connect(diag) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = RawReader(s)
        interim = r.read_response()
        assert interim.status_line == "HTTP/1.1 100 Continue"
        s.sendall(b"hello")
        final = r.read_response("POST")
        assert (final.status, final.body) == (200, b"hello")
        # The body was consumed: the connection goes on.
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.read_response().body == b"Hello, World!\n"


def test_expect_continue_not_sent_when_the_app_does_not_read(diag):
    with connect(diag) as s:
        s.sendall(b"POST /pid HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = RawReader(s)
        resp = r.read_response("POST")
        assert resp.status == 200  # the final response, no 100 before it
        assert resp.header("Connection").lower() == "close"  # the body was not consumed
        assert r.at_eof()


def test_unknown_expectation_417(diag):
    resp = exchange(diag, b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          b"Expect: something-else\r\n\r\nhello")
    assert resp.status == 417
    assert resp.header("Connection").lower() == "close"


def test_absolute_form_target(diag):
    resp = exchange(diag, b"GET http://example.com/echo?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    doc = json.loads(resp.body)
    assert (doc["path"], doc["query"]) == ("/echo", "x=1")


def test_date_header_rfc1123(diag):
    resp = exchange(diag, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    date = resp.header("Date")
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                        r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", date), date
    assert email.utils.parsedate_to_datetime(date).tzname() == "UTC"
    assert resp.header("Server") == "cppicorn"


@pytest.mark.parametrize("value,expected", [("", None), ("Acme/1", "Acme/1")])
def test_server_header_setting(server, value, expected):
    server.start("-w", "1", "--server-header", value, app="diag:app")
    resp = exchange(server, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.header("Server") == expected
    if expected is None:
        assert "server" not in resp.names()
    # Error responses follow the setting too.
    assert exchange(server, b"GET / HTTP/9.9\r\n\r\n").header("Server") == expected


def load_cases():
    """{name: (input bytes, expected status)} for every single-message error case with the
    default limits in tests/conformance/cases."""
    escapes = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "v": b"\v", "f": b"\f",
               "\\": b"\\", "s": b" "}

    def unescape(text):
        out, i = b"", 0
        while i < len(text):
            if text[i] == "\\":
                if text[i + 1] == "x":
                    out += bytes([int(text[i + 2:i + 4], 16)])
                    i += 4
                    continue
                out += escapes[text[i + 1]]
                i += 2
            else:
                out += text[i].encode("latin-1")
                i += 1
        return out

    cases = {}
    for fname in sorted(os.listdir(CASES)):
        name, data, outcomes, limits = None, b"", [], False
        lines = open(os.path.join(CASES, fname), encoding="latin-1").read().split("\n")
        for line in lines + ["=== end"]:
            if line.startswith("=== "):
                if name and not limits and len(outcomes) == 1 and outcomes[0][0] == "error":
                    cases[name] = (data, int(outcomes[0][1]))
                name, data, outcomes, limits = line[4:], b"", [], False
            elif line.startswith("limits:"):
                limits = True
            elif line.startswith("> "):
                data += unescape(line[2:])
            elif line.startswith("< "):
                outcomes.append(line[2:].split())
    return cases


SMUGGLING = [
    "CL.TE: both framings",
    "TE.CL: both framings, TE first",
    "TE.TE: xchunked",
    "TE.TE: obs-fold continuation",
    "TE.TE: vertical tab before value",
    "TE.TE: NUL after value",
    "TE.TE: bare LF line endings",
    "TE.TE: quoted chunked",
    "obs-fold with space",
    "NUL in value",
    "field line ending in bare LF",
    "Content-Length twice with the same value",
    "Content-Length twice with different values",
    "Content-Length list of differing values",
    "Content-Length negative",
]


def test_smuggling_attempts_rejected_and_worker_lives(diag):
    cases = load_cases()
    names = SMUGGLING
    missing = [n for n in SMUGGLING if n not in cases]
    assert not missing, missing
    pid = diag.request("GET", "/pid")[2]
    for name in names:
        data, status = cases[name]
        with connect(diag) as s:
            s.sendall(data)
            r = RawReader(s)
            resp = r.read_response()
            assert resp.status == status, (name, resp.status_line)
            assert resp.header("Connection").lower() == "close", name
            assert 0 < len(resp.body) < 200, name
            assert r.at_eof(), name
    assert diag.request("GET", "/pid")[2] == pid


def test_response_survives_a_client_still_sending_its_body(server):
    """The app answers without reading a large body (so the connection must close), with a
    response too big for the socket buffers, while the client keeps sending its body. Closing
    with unread input makes the kernel send RST and throw away the response bytes it has not
    sent yet; the server must linger instead (shut down its side, drain input), so the
    client reads the whole response."""
    import socket
    import threading
    size = 8_000_000
    server.start("-w", "1", app="diag:app")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s.sendall(f"POST /bytes?n={size} HTTP/1.1\r\nHost: x\r\n"
              f"Content-Length: 500000000\r\n\r\n".encode())

    def push():  # a client uploading a body the app never reads
        chunk = b"x" * 65536
        try:
            for _ in range(2000):
                s.sendall(chunk)
        except OSError:
            pass
    t = threading.Thread(target=push, daemon=True)
    t.start()
    data = bytearray()
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
    except ConnectionResetError:
        pass
    s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    assert b"Connection: close" in head
    assert len(body) == size, f"response cut at {len(body)} of {size} bytes"
