"""Slow and idle clients through the installed binary: header_timeout against a trickled
head (without blocking the worker), body_timeout for evented and blocking body reads, the
keep-alive timeout, the worker_connections cap, and 500 idle keep-alive connections."""
import os
import resource
import socket
import threading
import time

from conftest import RawReader, accept_queue, tcp_rx_queue, wait_for


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def get(sock, reader, path="/pid"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return reader.read_response()


def test_trickled_head_gets_408_without_blocking_the_worker(server):
    server.start("-w", "1", "--header-timeout", "2", app="diag:app")
    pid = server.request("GET", "/pid")[2]
    head = b"GET /pid HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    state = {"sent": 0, "done": threading.Event()}
    s = connect(server)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def trickle():
        try:
            for b in head:  # one byte every 0.25 s: the head would take 30 s
                if state["done"].is_set():
                    return
                s.send(bytes([b]))
                state["sent"] += 1
                time.sleep(0.25)
        except OSError:
            pass
    t0 = time.monotonic()
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        wait_for(lambda: state["sent"] >= 3, what="trickle started")
        # Another client is served while the trickler holds the worker's only process.
        t1 = time.monotonic()
        status, _, body = server.request("GET", "/pid", timeout=5)
        took = time.monotonic() - t1
        assert (status, body) == (200, pid)
        assert state["sent"] < len(head), "trickler finished first: nothing proven"
        print(f"second client served in {took * 1000:.1f} ms while the trickler is connected")
        resp = RawReader(s).read_response()
        elapsed = time.monotonic() - t0
        assert resp.status == 408
        # The deadline is for the whole head: bytes arriving do not extend it (the trickle
        # still had most of its 30 s to go), and it is the setting, not less.
        assert elapsed >= 1.95, elapsed
        assert state["sent"] < len(head) // 2
    finally:
        state["done"].set()
        s.close()
        t.join()
    assert server.request("GET", "/pid")[2] == pid


def test_silent_connection_closed_at_header_timeout_without_408(server):
    server.start("-w", "1", "--header-timeout", "1")
    with connect(server) as s:
        s.settimeout(10)
        assert s.recv(100) == b""  # nothing came: nothing to answer


def test_header_timeout_zero_disables_it(server):
    """0 means no limit, not the default: a head still unfinished after longer than the
    10 s default (and far longer than a 1 s limit would allow) is served."""
    server.start("-w", "1", "--header-timeout", "0", app="diag:app")
    with connect(server, timeout=30) as s:
        s.sendall(b"GET /pid HTTP/1.1\r\n")
        t0 = time.monotonic()
        s.settimeout(0.5)
        while time.monotonic() - t0 < 10.5:  # the connection must stay open all along
            try:
                assert s.recv(100) != b"", "closed with header_timeout 0"
            except socket.timeout:
                pass
        s.settimeout(10)
        s.sendall(b"Host: x\r\n\r\n")
        assert RawReader(s).read_response().status == 200


def test_header_timeout_applies_from_the_first_byte(server):
    """--header-timeout 1 closes an unfinished head at 1 s: not before, and well before the
    10 s default would (the client's clock starts after the server's, so it can only be
    later). A lower bound does not flake; the upper one is the gap to the default."""
    server.start("-w", "1", "--header-timeout", "1", app="diag:app")
    with connect(server, timeout=30) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /pid HTTP/1.1\r\n")
        r = RawReader(s)
        assert r.read_response().status == 408
        took = time.monotonic() - t0
    print(f"header_timeout 1: 408 after {took:.2f}s")
    assert 0.95 <= took < 9


def test_body_timeout_between_body_bytes_evented(server):
    server.start("-w", "1", "--body-timeout", "1", app="diag:app")
    pid = server.request("GET", "/pid")[2]
    # A slow but steady body is fine: the timeout is between bytes, not for the whole body.
    with connect(server) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        for b in b"abcdef":
            time.sleep(0.4)
            s.sendall(bytes([b]))
        resp = RawReader(s).read_response()
        assert (resp.status, resp.body) == (200, b"abcdef")
    # A stalled small body is pre-read by the event loop: others are served meanwhile.
    with connect(server) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        port = s.getsockname()[1]
        # The worker has read everything we sent (nothing queued in its socket) before the
        # probe, so the probe proves the worker is free while it holds a part-read body.
        wait_for(lambda: tcp_rx_queue(server.port, port) == 0, what="the head read")
        assert server.request("GET", "/pid", timeout=3)[2] == pid
        t0 = time.monotonic()
        r = RawReader(s)
        assert r.read_response("POST").status == 408
        assert r.at_eof()
        assert time.monotonic() - t0 >= 0.5  # body_timeout 1, counted from the last byte
    assert server.request("GET", "/pid")[2] == pid


def test_body_timeout_blocking_read(server):
    server.start("-w", "1", "--body-timeout", "1", app="diag:app")
    pid = server.request("GET", "/pid")[2]
    # Too large to pre-read: the app reads it, blocking, each wait bounded by body_timeout.
    with connect(server) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" +
                  b"x" * 100000)
        t0 = time.monotonic()
        r = RawReader(s)
        resp = r.read_response("POST")
        assert resp.status == 408, resp.status_line
        assert time.monotonic() - t0 >= 0.95  # one body_timeout of silence, not less
        assert r.at_eof()
    # Same behind "Expect: 100-continue": the 100 goes out, then the body never comes.
    with connect(server) as s:
        s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = RawReader(s)
        assert r.read_response().status == 100
        assert r.read_response("POST").status == 408
        assert r.at_eof()
    assert server.request("GET", "/pid")[2] == pid


def idle_close_after(server):
    """Seconds an idle keep-alive connection stays open after a response (client's clock)."""
    with connect(server, timeout=30) as s:
        r = RawReader(s)
        assert get(s, r).status == 200
        assert get(s, r).status == 200  # still open right after a response
        t0 = time.monotonic()
        assert r.at_eof(timeout=20)
        return time.monotonic() - t0


def test_keepalive_timeout_is_the_setting(binary, examples, tmp_path):
    """--keep-alive 1 and --keep-alive 3 side by side: each closes no earlier than its own
    value (timers do not fire early, so the lower bound is not load-sensitive), and the 1 s
    connection closes while the 3 s one is still open. A server that ignored the setting
    (the 2 s default for both) fails both ways."""
    from conftest import Server
    short, long_ = (Server(binary, examples, str(tmp_path / n)) for n in ("a", "b"))
    for srv, value in ((short, "1"), (long_, "3")):
        os.makedirs(srv.tmpdir)
        srv.start("-w", "1", "--keep-alive", value, app="diag:app")
    try:
        times = {}
        threads = [threading.Thread(target=lambda srv=srv: times.__setitem__(
            srv, idle_close_after(srv))) for srv in (short, long_)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        print(f"keep-alive 1: closed after {times[short]:.2f}s; 3: {times[long_]:.2f}s")
        assert times[short] >= 0.95
        assert times[long_] >= 2.95
        assert times[short] < times[long_]
    finally:
        short.stop()
        long_.stop()


def test_worker_connections_cap_defers_excess_clients(server):
    server.start("-w", "1", "--worker-connections", "3", "--keep-alive", "60", app="diag:app")
    # The readiness probe's connection may still be closing: wait until 3 fit.
    held = []
    for _ in range(3):
        s = connect(server)
        r = RawReader(s)
        assert get(s, r).status == 200
        held.append((s, r))
    try:
        fourth = connect(server)  # completes in the kernel backlog
        fourth.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        # It waits in the listening socket's accept queue, not in a worker.
        wait_for(lambda: accept_queue(server.port) == 1, what="the 4th in the accept queue")
        # The held connections are still served (the worker's loop runs)...
        assert get(*held[0]).status == 200
        # ...and the 4th is still not accepted, nothing answered on it.
        assert accept_queue(server.port) == 1
        fourth.setblocking(False)
        try:
            early = fourth.recv(100)
        except BlockingIOError:
            early = None
        assert early is None, f"4th connection served while 3 are open: {early!r}"
        # Free a slot: the 4th is served now.
        held[0][0].close()
        fourth.settimeout(10)
        resp = RawReader(fourth).read_response()
        assert resp.status == 200
        fourth.close()
        for s, r in held[1:]:
            assert get(s, r).status == 200
    finally:
        for s, _ in held:
            s.close()


def test_500_idle_keepalive_connections_and_a_new_client(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2048
    if soft < want:  # the server inherits this limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    try:
        server.start("-w", "1", "--worker-connections", "1000", "--keep-alive", "60",
                     app="diag:app")
        pid = server.request("GET", "/pid")[2]
        idle = []
        try:
            for _ in range(500):
                s = connect(server)
                r = RawReader(s)
                assert get(s, r).body == pid
                idle.append((s, r))
            t0 = time.monotonic()
            status, _, body = server.request("GET", "/pid", timeout=10)
            took = time.monotonic() - t0
            assert (status, body) == (200, pid)
            print(f"new client served in {took * 1000:.2f} ms with 500 idle keep-alive "
                  f"connections held")
            # Every one of the 500 is still open and usable.
            for s, r in idle:
                assert get(s, r).status == 200
            assert len(server.workers()) == 1
        finally:
            for s, _ in idle:
                s.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
