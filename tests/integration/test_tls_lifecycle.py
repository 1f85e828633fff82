"""TLS over a server's life, with Python's ssl and curl against the test CA of test_tls.py:
session tickets resume on a different worker than the one that made the session, for TLS 1.3
and 1.2; HUP rotates the certificate, refuses a bad pair (the old one keeps serving) and
tickets survive it; rotation under load loses no request; a certificate near its expiry is a
warning; a bad certificate, key or https bind stops boot naming the file; a bare name is read
from $CREDENTIALS_DIRECTORY; USR2 carries the TLS settings across.
"""
import json
import os
import socket
import ssl
import threading

import pytest

from conftest import exited, free_port, in_sleep, wait_for
from test_tls import pki, start_tls, tls_get  # noqa: F401 (pki: a fixture)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_session_resumes_on_another_worker(server, pki, version):
    start_tls(server, pki, "-w", "2")
    server.wait_workers(2)
    ctx = pki.client_context(version=version)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    first = ctx.wrap_socket(raw, server_hostname="localhost")
    first.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = first.recv(4096)
    pid = reply.split(b"\r\n\r\n")[1].strip()
    session = first.session
    assert session is not None and not first.session_reused
    # Keep the first worker busy in the app on the same connection, and wait until the kernel
    # shows it asleep there: a new connection, and its resumed handshake, can then only go to
    # the other worker. (Polling without that wait raced: the first worker could accept a
    # connection just before reading /sleep, hold it through the sleep, and then, idle and
    # first in the kernel's queue of exclusive waiters, take every later one.)
    first.sendall(b"GET /sleep?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: in_sleep(int(pid)), what="the first worker asleep in the app")
    _, body, info = tls_get(server, pki, "/pid", ctx=ctx, session=session)
    assert info["reused"], "the ticket must resume"
    assert body.strip() != pid, "the resumed handshake must be served by the other worker"
    first.close()


# -- rotation ----------------------------------------------------------------------------------

def start_with_copies(server, pki, tmp_path):
    """Starts -w 2 on copies of the ECDSA pair, which the test then replaces; returns them."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(open(pki.path("server-ec.pem"), "rb").read())
    key.write_bytes(open(pki.path("server-ec.key"), "rb").read())
    server.start("-b", f"https://127.0.0.1:{server.port}", "--certfile", str(cert), "--keyfile",
                 str(key), "-w", "2", app="diag:app", bind=False)
    return cert, key


def test_hup_rotates_the_certificate_and_refuses_a_bad_pair(server, pki, tmp_path):
    cert, key = start_with_copies(server, pki, tmp_path)
    ctx = pki.client_context()
    _, _, info = tls_get(server, pki, "/", ctx=ctx)
    old_der, session = info["cert"], info["session"]
    # A new certificate for the same key: a new generation serves it.
    new_pem, _ = pki.issue("server-ec-2", "/CN=localhost", server=True, key="server-ec")
    cert.write_bytes(open(new_pem, "rb").read())
    workers = server.workers()
    import signal as sig
    server.signal(sig.SIGHUP)
    wait_for(lambda: not (server.workers() & workers) and len(server.workers()) == 2,
             timeout=20, what="the new generation")
    _, _, info = tls_get(server, pki, "/")
    assert info["cert"] != old_der
    new_der = info["cert"]
    # Tickets outlive the generation: the keys are the master's, in shared memory.
    assert tls_get(server, pki, "/", ctx=ctx, session=session)[2]["reused"]
    # A key that does not match: refused, logged, the running generation keeps serving.
    key.write_bytes(open(pki.path("server-rsa.key"), "rb").read())
    workers = server.workers()
    server.signal(sig.SIGHUP)
    wait_for(lambda: server.log_has("Reload refused, keeping the running configuration: TLS:"),
             what="refusal")
    assert "does not match certfile" in server.log()
    assert server.workers() == workers
    assert tls_get(server, pki, "/")[2]["cert"] == new_der


def test_rotation_under_load_loses_no_request(server, pki, tmp_path):
    cert, key = start_with_copies(server, pki, tmp_path)
    ok, failed, stop = [0], [], threading.Event()

    def load():
        ctx = pki.client_context()
        while not stop.is_set():
            try:
                status, _, _ = tls_get(server, pki, "/", ctx=ctx)
                if status == "HTTP/1.1 200 OK":
                    ok[0] += 1
                else:
                    failed.append(status)
            except Exception as e:  # noqa: BLE001
                failed.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    import signal as sig
    for i in range(2):
        before = ok[0]
        wait_for(lambda: ok[0] > before + 20, what="requests flowing")
        pem, _ = pki.issue(f"server-load-{i}", "/CN=localhost", server=True, key="server-ec")
        cert.write_bytes(open(pem, "rb").read())
        workers = server.workers()
        server.signal(sig.SIGHUP)
        wait_for(lambda: not (server.workers() & workers) and len(server.workers()) == 2,
                 timeout=20, what="the new generation")
    before = ok[0]
    wait_for(lambda: ok[0] > before + 20, what="requests after the reloads")
    stop.set()
    for t in threads:
        t.join()
    assert failed == []


def test_expiring_certificate_is_a_warning(server, pki):
    pem, key = pki.issue("short", "/CN=localhost", server=True, days=3)
    server.start("--certfile", pem, "--keyfile", key, app="diag:app")
    assert "[WARNING] TLS certificate expires soon: CN=localhost" in server.log()


# -- configuration errors ----------------------------------------------------------------------

def run_to_exit(server, *args, bind=True):
    server.start(*args, app="diag:app", wait=False, bind=bind)
    code = server.wait_exit()
    return code, server.log()


def test_https_bind_without_certfile_is_an_error(server):
    code, log = run_to_exit(server, "-b", f"https://127.0.0.1:{server.port}", bind=False)
    assert code != 0 and "is https but no certfile is set" in log


def test_bad_key_is_an_error_naming_the_file(server, pki, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    code, log = run_to_exit(server, "--certfile", pki.path("server-ec.pem"), "--keyfile", str(bad))
    assert code != 0 and f"keyfile {bad}" in log
    code, log = run_to_exit(server, "--certfile", pki.path("server-ec.pem"), "--keyfile",
                            pki.path("server-rsa.key"))
    assert code != 0 and "does not match certfile" in log


def test_credentials_directory(server, pki, tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tls.pem").write_bytes(open(pki.path("server-ec.pem"), "rb").read())
    (creds / "tls.key").write_bytes(open(pki.path("server-ec.key"), "rb").read())
    server.start("--certfile", "tls.pem", "--keyfile", "tls.key", app="diag:app",
                 env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert tls_get(server, pki, "/")[0] == "HTTP/1.1 200 OK"


def test_usr2_carries_tls_across(server, pki, tmp_path):
    import signal as sig
    pidfile = str(tmp_path / "cppicorn.pid")
    plain = free_port()  # (port + 1 may be taken)
    start_tls(server, pki, "-p", pidfile, "-w", "1",
              bind=["-b", f"https://127.0.0.1:{server.port}", "-b", f"127.0.0.1:{plain}"])
    old = server.proc.pid
    server.signal(sig.SIGUSR2)
    new = 0
    try:
        assert server.wait_exit(30) == 0  # the old master hands over and leaves
        new = int(open(pidfile).read().strip())
        assert new != old
        status, body, _ = tls_get(server, pki, "/echo")
        assert json.loads(body)["scheme"] == "https"
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", plain, timeout=10)
        c.request("GET", "/echo")
        assert json.loads(c.getresponse().read())["scheme"] == "http"
    finally:
        if new:
            os.kill(new, sig.SIGINT)
            wait_for(lambda: exited(new), what="the new master's exit")
