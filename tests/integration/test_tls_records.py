"""TLS records that arrive together: with read-ahead on (one read(2) takes what the socket holds,
as nginx does), records OpenSSL has read but not yet decrypted never make the socket readable
again, so the server must serve them without waiting for more bytes. Proved with pipelined
requests, each its own TLS record, corked into one TCP segment (Python's ssl client), and with a
request whose record is cut in two by the segment boundary.
"""
import socket
import ssl

from conftest import recv_to_eof
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
