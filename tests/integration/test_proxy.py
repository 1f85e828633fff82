"""Proxies through the installed binary: X-Forwarded-For/-Proto/-Port trusted only from
forwarded_allow_ips (right-most untrusted hop is the client), and the PROXY protocol v1/v2
(required on every connection when enabled, only from proxy_allow_ips)."""
import json
import socket
import struct
import time

import pytest

from conftest import RawReader, exchange, tcp_rx_queue, wait_for


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def echo_over(sock, headers=b"", reader=None):
    """One GET /echo on an open socket; the parsed JSON document."""
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    r = reader or RawReader(sock)
    resp = r.read_response()
    assert resp.status == 200, resp.status_line
    return json.loads(resp.body)


def echo(server, headers=b""):
    with connect(server) as s:
        return echo_over(s, headers)


def closed_without_response(sock, timeout=5):
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


# -- X-Forwarded-* -----------------------------------------------------------------------

def test_forwarded_headers_from_trusted_peer(server):
    server.start("-w", "1", app="diag:app")  # default forwarded_allow_ips: 127.0.0.1,::1
    doc = echo(server, b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                       b"X-Forwarded-Port: 8443\r\n")
    assert (doc["remote_addr"], doc["scheme"], doc["remote_port"]) == ("203.0.113.7", "https", 8443)
    # The app still sees the raw headers.
    names = [h[0].lower() for h in doc["headers"]]
    assert {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"} <= set(names)


def test_forwarded_for_takes_rightmost_untrusted_hop(server):
    server.start("-w", "1", "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8,2001:db8::/32",
                 app="diag:app")
    # The client forged 198.51.100.66; 192.0.2.1 is who reached our trusted proxies.
    doc = echo(server, b"X-Forwarded-For: 198.51.100.66, 192.0.2.1, 10.1.2.3\r\n")
    assert doc["remote_addr"] == "192.0.2.1"
    # Several field lines are one list, in order.
    doc = echo(server, b"X-Forwarded-For: 198.51.100.66\r\nX-Forwarded-For: 2001:db8::5\r\n")
    assert doc["remote_addr"] == "198.51.100.66"
    # Port-carrying forms some proxies write.
    doc = echo(server, b"X-Forwarded-For: [2001:db9::1]:4711, 10.0.0.1:80\r\n")
    assert doc["remote_addr"] == "2001:db9::1"
    # A hop that is not an address stops the walk: the last good hop stands.
    doc = echo(server, b"X-Forwarded-For: 192.0.2.9, unknown, 10.9.9.9\r\n")
    assert doc["remote_addr"] == "10.9.9.9"
    doc = echo(server, b"X-Forwarded-For: garbage\r\n")
    assert doc["remote_addr"] == "127.0.0.1"


def test_forwarded_star_trusts_every_hop(server):
    server.start("-w", "1", "--forwarded-allow-ips", "*", app="diag:app")
    doc = echo(server, b"X-Forwarded-For: 198.51.100.66, 192.0.2.1\r\n")
    assert doc["remote_addr"] == "198.51.100.66"


def test_forwarded_scheme_by_gunicorns_secure_scheme_headers(server):
    server.start("-w", "1", app="diag:app")
    assert echo(server, b"X-Forwarded-Proto: HTTPS\r\n")["scheme"] == "https"
    assert echo(server, b"X-Forwarded-Proto: ftp\r\n")["scheme"] == "http"
    assert echo(server, b"X-Forwarded-Proto: https, http\r\n")["scheme"] == "http"
    assert echo(server, b"X-Forwarded-Ssl: on\r\n")["scheme"] == "https"
    assert echo(server, b"X-Forwarded-Protocol: ssl\r\n")["scheme"] == "https"
    assert echo(server, b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n")[
        "scheme"] == "https"
    # Scheme headers that disagree: 400, as gunicorn's InvalidSchemeHeaders; the worker lives.
    for both in (b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n",
                 b"X-Forwarded-Proto: http\r\nX-Forwarded-Proto: https\r\n"):
        resp = exchange(server, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + both + b"\r\n")
        assert resp.status == 400 and b"contradictory scheme headers" in resp.body
    assert echo(server)["scheme"] == "http"
    doc = echo(server, b"X-Forwarded-Port: 99999\r\n")
    assert doc["remote_port"] != 99999 and doc["remote_port"] > 0


@pytest.mark.parametrize("source", ["flag", "yaml", "python"])
def test_secure_scheme_headers_replace_the_defaults(server, tmp_path, source):
    args = {"flag": ("--secure-scheme-headers", "X-Scheme=https, Front-End-Https=on"),
            "yaml": ("-c", tmp_path / "c.yaml"), "python": ("-c", tmp_path / "c.py")}[source]
    (tmp_path / "c.yaml").write_text("secure_scheme_headers:\n  X-Scheme: https\n"
                                     "  Front-End-Https: 'on'\n")
    (tmp_path / "c.py").write_text(
        'secure_scheme_headers = {"X-SCHEME": "https", "FRONT-END-HTTPS": "on"}\n')
    server.start("-w", "1", *map(str, args), app="diag:app")
    assert echo(server, b"X-Scheme: https\r\n")["scheme"] == "https"
    assert echo(server, b"Front-End-Https: on\r\n")["scheme"] == "https"
    assert echo(server, b"X-Scheme: http\r\n")["scheme"] == "http"
    assert echo(server, b"X-Forwarded-Proto: https\r\n")["scheme"] == "http"  # not listed


def test_forwarded_ignored_from_untrusted_peer(server):
    server.start("-w", "1", "--forwarded-allow-ips", "10.0.0.1", app="diag:app")
    with connect(server) as s:
        port = s.getsockname()[1]
        doc = echo_over(s, b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                           b"X-Forwarded-Port: 8443\r\n")
    assert (doc["remote_addr"], doc["scheme"], doc["remote_port"]) == ("127.0.0.1", "http", port)
    assert ["X-Forwarded-For", "203.0.113.7"] in doc["headers"]


def test_forwarded_per_request_on_keepalive(server):
    server.start("-w", "1", app="diag:app")
    with connect(server) as s:
        r = RawReader(s)
        assert echo_over(s, b"X-Forwarded-For: 192.0.2.1\r\n", r)["remote_addr"] == "192.0.2.1"
        doc = echo_over(s, b"", r)
        assert (doc["remote_addr"], doc["scheme"]) == ("127.0.0.1", "http")


def test_forwarded_trusted_from_unix_socket_peer(server, tmp_path):
    path = str(tmp_path / "s.sock")
    server.start("-b", f"unix:{path}", "-w", "1", "--forwarded-allow-ips", "10.0.0.1",
                 app="diag:app", bind=False, wait=False)

    def ask():
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(path)
                return echo_over(s, b"X-Forwarded-For: 203.0.113.7\r\n"
                                    b"X-Forwarded-Proto: https\r\n")
        except OSError:
            return None
    doc = wait_for(ask, 15, what="answer on the unix socket")
    assert (doc["remote_addr"], doc["scheme"]) == ("203.0.113.7", "https")


# -- PROXY protocol ---------------------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd, fam, payload):
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(payload)) + payload


def v2_inet(src, sport, tlvs=b""):
    return v2(1, 0x11, socket.inet_aton(src) + socket.inet_aton("127.0.0.1") +
              struct.pack("!HH", sport, 80) + tlvs)


def v2_inet6(src, sport, tlvs=b""):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src) +
              socket.inet_pton(socket.AF_INET6, "::1") + struct.pack("!HH", sport, 443) + tlvs)


def start_proxied(server, *args):
    """Starts with --proxy-protocol; the harness's plain-HTTP readiness probe cannot work."""
    server.start("-w", "1", "--proxy-protocol", *args, app="diag:app", wait=False)

    def ready():
        try:
            return proxied_echo(server, b"PROXY UNKNOWN\r\n")
        except (OSError, EOFError):
            return None
    wait_for(ready, 15, what="server answering behind the PROXY protocol")


def proxied_echo(server, header, headers=b""):
    with connect(server) as s:
        s.sendall(header)
        return echo_over(s, headers)


def test_proxy_v1(server):
    start_proxied(server)
    pid = None
    with connect(server) as s:
        s.sendall(b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n")
        r = RawReader(s)
        for _ in range(2):  # keep-alive: the header holds for the whole connection
            doc = echo_over(s, b"", r)
            assert (doc["remote_addr"], doc["remote_port"]) == ("192.0.2.10", 40000)
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        pid = r.read_response().body
    doc = proxied_echo(server, b"PROXY TCP6 2001:db8::1 ::1 5555 443\r\n")
    assert (doc["remote_addr"], doc["remote_port"]) == ("2001:db8::1", 5555)
    doc = proxied_echo(server, b"PROXY UNKNOWN\r\n")
    assert doc["remote_addr"] == "127.0.0.1"
    with connect(server) as s:
        # Header and request in one segment.
        s.sendall(b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n"
                  b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert RawReader(s).read_response().body == pid


def test_proxy_header_split_across_reads(server):
    start_proxied(server)
    for header, want in ((b"PROXY TCP4 192.0.2.11 127.0.0.1 4242 80\r\n", "192.0.2.11"),
                         (v2_inet("192.0.2.12", 4242), "192.0.2.12")):
        with connect(server) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            port = s.getsockname()[1]
            for i in range(0, len(header), 5):
                s.sendall(header[i:i + 5])
                # The worker has read this piece before the next is sent: separate reads.
                wait_for(lambda: tcp_rx_queue(server.port, port) == 0, what="piece read")
            # The request comes in the same segment as the header's tail.
            doc = echo_over(s)
            assert (doc["remote_addr"], doc["remote_port"]) == (want, 4242)


def test_proxy_v2(server):
    start_proxied(server)
    doc = proxied_echo(server, v2_inet("198.51.100.4", 1234))
    assert (doc["remote_addr"], doc["remote_port"]) == ("198.51.100.4", 1234)
    tlvs = b"\x01\x00\x02h2" + b"\x04\x00\x05" + b"\x00" * 5  # ALPN, NOOP: skipped
    doc = proxied_echo(server, v2_inet6("2001:db8::42", 4321, tlvs))
    assert (doc["remote_addr"], doc["remote_port"]) == ("2001:db8::42", 4321)
    # LOCAL (the proxy's health check) keeps the socket's address.
    with connect(server) as s:
        port = s.getsockname()[1]
        s.sendall(v2(0, 0x00, b""))
        doc = echo_over(s)
    assert (doc["remote_addr"], doc["remote_port"]) == ("127.0.0.1", port)


def test_proxy_header_required_and_validated(server):
    start_proxied(server, "--header-timeout", "2")
    first = proxied_echo(server, b"PROXY UNKNOWN\r\n")
    worker = server.wait_workers(1)
    bad = [
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",               # no header at all
        b"PROXY TCP4 1.2.3.4 5.6.7.8 111\r\nGET / HTTP/1.1\r\n\r\n",  # malformed v1
        b"PROXY UNKNOWN " + b"a" * 200 + b"\r\n",               # oversize v1
        v2(2, 0x11, b"\x00" * 12),                              # v2, bad command
        V2_SIG + b"\x21\x11\xff\xff",                           # v2, oversize
        v2(1, 0x11, b"\x00" * 8),                               # v2, truncated addresses
    ]
    for data in bad:
        with connect(server) as s:
            s.sendall(data)
            assert closed_without_response(s), data
    # Started but never finished: closed at header_timeout, without an HTTP answer.
    with connect(server) as s:
        s.sendall(b"PROXY TCP4 1.2.3.4")
        t0 = time.monotonic()
        assert closed_without_response(s, timeout=10)
        assert time.monotonic() - t0 >= 1.9  # at header_timeout, not before
    assert proxied_echo(server, b"PROXY UNKNOWN\r\n")["remote_addr"] == first["remote_addr"]
    assert server.workers() == worker  # the same worker lives on: none crashed


@pytest.mark.parametrize("allowed", [False, True], ids=["disallowed", "allowed"])
def test_proxy_allow_from_decides_by_peer(server, allowed):
    """From a peer outside --proxy-allow-from a connection is closed unanswered, PROXY header
    or not; from one inside (the positive control) the same bytes are served."""
    server.start("-w", "1", "--proxy-protocol", "--proxy-allow-from",
                 "127.0.0.0/8" if allowed else "10.0.0.0/8", app="diag:app", wait=False)
    wait_for(lambda: server.log_has("Booting worker"), what="worker")
    # No readiness probe (it would be refused too): a connection made before the worker
    # accepts waits in the queue, and the long timeout covers the boot.
    with connect(server) as s:
        s.sendall(b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\nGET /echo HTTP/1.1\r\n"
                  b"Host: x\r\n\r\n")
        if allowed:
            resp = RawReader(s).read_response()
            assert json.loads(resp.body)["remote_addr"] == "192.0.2.10"
        else:
            assert closed_without_response(s, timeout=10)
    if not allowed:
        with connect(server) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert closed_without_response(s, timeout=10)


def test_proxy_then_forwarded_trust_follows_the_proxied_client(server):
    start_proxied(server)
    xff = b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
    # A TCP-mode proxy passes the client's own X-Forwarded-For through: not trusted.
    doc = proxied_echo(server, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 80\r\n", xff)
    assert (doc["remote_addr"], doc["scheme"]) == ("192.0.2.10", "http")
    # The proxied client is itself a trusted proxy (127.0.0.1): its headers count.
    doc = proxied_echo(server, b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 80\r\n", xff)
    assert (doc["remote_addr"], doc["scheme"]) == ("203.0.113.9", "https")
