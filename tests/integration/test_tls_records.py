"""TLS records that arrive together, and the PROXY protocol's header before the ClientHello.

Records:  with read-ahead on (one read(2) takes what the socket holds,
as nginx does), records OpenSSL has read but not yet decrypted never make the socket readable
again, so the server must serve them without waiting for more bytes. Proved with pipelined
requests, each its own TLS record, corked into one TCP segment (Python's ssl client), and with a
request whose record is cut in two by the segment boundary. PROXY: v1 and v2 headers, whole and
in pieces, before the handshake give the app the proxied client over https; a TLS client that
sends no header is closed and the worker serves the next connection.
"""
import json
import socket
import ssl
import struct

from conftest import recv_to_eof, tcp_rx_queue, wait_for
from test_tls import Pki, start_tls

import pytest


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


def request(path, close=False):
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode()


def test_pipelined_records_in_one_segment_are_all_served(server, pki):
    start_tls(server, pki)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with pki.client_context().wrap_socket(raw, server_hostname="localhost") as s:
        # TCP_CORK holds the three records (three sendall calls, three records) until uncorked:
        # they reach the server as one segment, read by one read(2).
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(request("/echo?n=1"))
        s.sendall(request("/echo?n=2"))
        s.sendall(request("/echo?n=3", close=True))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        data = recv_to_eof(s)
    assert data.count(b"HTTP/1.1 200 ") == 3, data[:500]
    for n in (1, 2, 3):
        assert f"n={n}".encode() in data


def test_a_record_split_across_segments_is_served_when_the_rest_comes(server, pki):
    start_tls(server, pki)
    # The client side by hand (ssl.SSLObject over memory BIOs), to choose where the bytes of
    # its records are cut.
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = pki.client_context().wrap_bio(inc, out, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)

    def receive():
        data = sock.recv(65536)
        if data:
            inc.write(data)
        else:
            inc.write_eof()
        return data

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            assert receive(), "closed during the handshake"
    sock.sendall(out.read())  # the client's Finished
    tls.write(request("/echo?n=1"))
    tls.write(request("/echo?n=2", close=True))
    wire = out.read()
    first_len = 5 + int.from_bytes(wire[3:5], "big")  # the first record, header included
    cut = first_len + (len(wire) - first_len) // 2
    # One whole record and half the next: the server answers the first request and keeps the
    # half record until the rest arrives, which is sent only once the first answer is here.
    sock.sendall(wire[:cut])
    got = b""
    while b"n=1" not in got:
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            assert receive(), "closed before the first response"
    sock.sendall(wire[cut:])
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            got += chunk
        except ssl.SSLWantReadError:
            if not receive():
                break
        except ssl.SSLZeroReturnError:
            break
    sock.close()
    assert got.count(b"HTTP/1.1 200 ") == 2, got[:500]
    assert b"n=2" in got


# -- the PROXY protocol before the ClientHello -----------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_inet(src, sport):
    payload = (socket.inet_aton(src) + socket.inet_aton("127.0.0.1") +
               struct.pack("!HH", sport, 443))
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(payload)) + payload


def proxied_tls_echo(server, pki, header, split=False):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if split:  # the header in pieces, each read by the worker before the next is sent
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = raw.getsockname()[1]
        for i in range(0, len(header), 7):
            raw.sendall(header[i:i + 7])
            wait_for(lambda: tcp_rx_queue(server.port, port) == 0, what="piece read")
    else:
        raw.sendall(header)
    with pki.client_context().wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(request("/echo", close=True))
        body = recv_to_eof(s).partition(b"\r\n\r\n")[2]
    return json.loads(body)


def start_proxied_tls(server, pki, mode, *args):
    """start_tls, with the PROXY protocol: the harness's readiness probe cannot work."""
    server.start("-b", f"https://127.0.0.1:{server.port}", *pki.server_args("ec"),
                 "--proxy-protocol", mode, *args, app="diag:app", bind=False, wait=False)
    local = b"PROXY UNKNOWN\r\n" if mode == "v1" else V2_SIG + b"\x20\x00\x00\x00"

    def ready():
        try:
            return proxied_tls_echo(server, pki, local)
        except (OSError, ValueError):
            return None
    wait_for(ready, 15, what="server answering behind the PROXY protocol")


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_proxy_header_before_the_tls_handshake(server, pki, mode):
    start_proxied_tls(server, pki, mode)
    if mode == "v1":
        header = b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 443\r\n"
    else:
        header = v2_inet("192.0.2.10", 40000)
    for split in (False, True):
        doc = proxied_tls_echo(server, pki, header, split)
        assert (doc["remote_addr"], doc["remote_port"], doc["scheme"]) == \
            ("192.0.2.10", 40000, "https")


def test_tls_without_the_proxy_header_is_closed_and_the_worker_lives(server, pki):
    start_proxied_tls(server, pki, "v1", "-w", "1")
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with pytest.raises((ssl.SSLError, OSError)):
        with pki.client_context().wrap_socket(raw, server_hostname="localhost"):
            pass
    doc = proxied_tls_echo(server, pki, b"PROXY UNKNOWN\r\n")
    assert doc["remote_addr"] == "127.0.0.1"
