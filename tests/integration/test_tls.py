"""TLS straight from cppicorn, with real clients (curl, openssl s_client, Python's ssl) against
a test CA made when the tests run (ECDSA P-256 and RSA 2048 server keys, client certificates
from the CA and from a stranger CA).

What is proved here: HTTPS serving of buffered, streamed and sendfile bodies; plain and TLS
listeners side by side; the handshake runs in the event loop (a stalled handshake holds no
worker); bad input closes cleanly and the worker lives on; client certificates reach the app.
Resumption across workers, rotation and the certificate's life: test_tls_lifecycle.py.
"""
import json
import os
import socket
import ssl
import subprocess

import pytest

from conftest import free_port, recv_to_eof, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


class Pki:
    """A throwaway CA, server certificates signed by it, and client certificates."""

    def __init__(self, root):
        self.root = root
        self._ca("ca", "cppicorn test CA")
        self._ca("stranger", "someone else's CA")
        for kind in ("ec", "rsa"):
            self.issue(f"server-{kind}", "/CN=localhost", kind=kind, server=True)
        self.issue("client", "/O=cppicorn tests/CN=alice")
        self.issue("intruder", "/CN=mallory", ca="stranger")

    def path(self, name):
        return os.path.join(self.root, name)

    def _key(self, name, kind="ec"):
        if kind == "ec":
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.path(name + ".key"))
        else:
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", self.path(name + ".key"))

    def _ca(self, name, cn):
        self._key(name)
        run("openssl", "req", "-x509", "-new", "-key", self.path(name + ".key"), "-days", "30",
            "-subj", f"/CN={cn}", "-out", self.path(name + ".pem"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, subject, kind="ec", server=False, ca="ca", days=30, key=None):
        """Writes NAME.key (unless key names an existing one) and NAME.pem."""
        if key is None:
            self._key(name, kind)
            key = name
        ext = os.path.join(self.root, name + ".ext")
        with open(ext, "w") as f:
            if server:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        csr = self.path(name + ".csr")
        run("openssl", "req", "-new", "-key", self.path(key + ".key"), "-subj", subject,
            "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.path(ca + ".pem"), "-CAkey",
            self.path(ca + ".key"), "-CAcreateserial", "-days", str(days), "-extfile", ext,
            "-out", self.path(name + ".pem"))
        return self.path(name + ".pem"), self.path(key + ".key")

    def server_args(self, kind="ec"):
        return ["--certfile", self.path(f"server-{kind}.pem"),
                "--keyfile", self.path(f"server-{kind}.key")]

    def client_context(self, cert=None, version=None):
        ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        if cert:
            ctx.load_cert_chain(self.path(cert + ".pem"), self.path(cert + ".key"))
        if version:
            ctx.minimum_version = ctx.maximum_version = version
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


def tls_get(server, pki, path, ctx=None, session=None, port=None, timeout=10):
    """One request on a new TLS connection: (status line, body, SSLSocket info)."""
    ctx = ctx or pki.client_context()
    raw = socket.create_connection(("127.0.0.1", port or server.port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = recv_to_eof(s)
        head, _, body = data.partition(b"\r\n\r\n")
        info = {"version": s.version(), "cipher": s.cipher()[0], "reused": s.session_reused,
                "session": s.session, "alpn": s.selected_alpn_protocol(),
                "cert": s.getpeercert(binary_form=True)}
        return head.split(b"\r\n")[0].decode(), body, info


def curl(pki, url, *args):
    return subprocess.run(["curl", "-sS", "--cacert", pki.path("ca.pem"), *args, url],
                          capture_output=True, timeout=30)


def start_tls(server, pki, *args, kind="ec", bind=None):
    binds = bind if bind is not None else ["-b", f"https://127.0.0.1:{server.port}"]
    server.start(*binds, *pki.server_args(kind), "--log-level", "debug", *args, app="diag:app",
                 bind=False)
    return server


# -- serving -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_curl_https_and_what_the_app_sees(server, pki, kind):
    start_tls(server, pki, kind=kind)
    r = curl(pki, f"https://localhost:{server.port}/echo", "-v", "--resolve",
             f"localhost:{server.port}:127.0.0.1")
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["scheme"] == "https"
    assert env["tls"]["HTTPS"] == "on"
    assert env["tls"]["SSL_PROTOCOL"] == "TLSv1.3"
    assert env["tls"]["SSL_CLIENT_VERIFY"] == "NONE"
    assert "SSL_CLIENT_S_DN" not in env["tls"]
    assert b"ALPN: server accepted http/1.1" in r.stderr
    # openssl s_client: the key the server presents, and a request over it.
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
                        "-CAfile", pki.path("ca.pem"), "-alpn", "http/1.1", "-ign_eof"],
                       input=b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       capture_output=True, timeout=30)
    bits = b"256 bit" if kind == "ec" else b"2048 bit"
    assert b"Server public key is " + bits in p.stdout
    assert b"Verify return code: 0 (ok)" in p.stdout
    assert b"ALPN protocol: http/1.1" in p.stdout
    assert b"Hello, World!" in p.stdout


def test_bodies_over_tls(server, pki, tmp_path):
    start_tls(server, pki)
    _, body, info = tls_get(server, pki, "/bytes?n=1048576")
    assert body == b"x" * 1048576 and info["alpn"] is None  # Python offers no ALPN by default
    _, body, _ = tls_get(server, pki, "/stream?chunks=20&size=70000")
    # chunked framing: the decoded payload is 20 chunks of 70000 'x'
    payload = b"".join(body.split(b"\r\n")[1::2])
    assert payload == b"x" * (20 * 70000)
    blob = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(blob)
    r = curl(pki, f"https://127.0.0.1:{server.port}/file?path={path}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob  # sendfile's TLS path: read + SSL_write without kTLS


def test_ktls_sendfile(server, pki, tmp_path):
    if not os.path.exists("/proc/net/tls_stat"):
        pytest.skip("this kernel has no kTLS (no /proc/net/tls_stat: the tls module is not "
                    "loaded or not built), so SSL_sendfile cannot engage; the read+SSL_write "
                    "path is covered by test_bodies_over_tls")
    start_tls(server, pki, "--ciphersuites", "TLS_AES_128_GCM_SHA256")
    with open("/proc/net/tls_stat") as f:
        before = f.read()
    blob = os.urandom(2 * 1024 * 1024)
    path = tmp_path / "blob"
    path.write_bytes(blob)
    r = curl(pki, f"https://127.0.0.1:{server.port}/file?path={path}")
    assert r.stdout == blob
    with open("/proc/net/tls_stat") as f:
        assert f.read() != before  # TlsTxSw/TlsCurrTxSw moved: the kernel encrypted


def test_plain_and_tls_side_by_side(server, pki):
    plain = free_port()  # (port + 1 may be taken)
    start_tls(server, pki, bind=["-b", f"https://127.0.0.1:{server.port}",
                                 "-b", f"127.0.0.1:{plain}"])
    assert "Listening at: https://127.0.0.1:" in server.log()
    status, body, _ = tls_get(server, pki, "/echo")
    assert json.loads(body)["scheme"] == "https"
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", plain, timeout=10)
    c.request("GET", "/echo")
    env = json.loads(c.getresponse().read())
    assert env["scheme"] == "http" and env["tls"] == {}


def test_gunicorn_default_every_bind_is_tls(server, pki):
    server.start(*pki.server_args(), app="diag:app")  # -b 127.0.0.1:PORT, no scheme
    status, body, _ = tls_get(server, pki, "/")
    assert status == "HTTP/1.1 200 OK" and body == b"Hello, World!\n"


def test_plain_http_to_tls_port_gets_a_plain_400(server, pki):
    start_tls(server, pki, "-w", "1")
    pid = tls_get(server, pki, "/pid")[1]
    got = server.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"This port speaks HTTPS" in got
    wait_for(lambda: server.log_has("plain HTTP sent to a TLS port"), what="debug line")
    assert tls_get(server, pki, "/pid")[1] == pid  # the same worker serves on


def test_python_ssl_versions_and_min_version(server, pki):
    start_tls(server, pki, "--tls-min-version", "1.3")
    _, _, info = tls_get(server, pki, "/", ctx=pki.client_context())
    assert info["version"] == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        tls_get(server, pki, "/", ctx=pki.client_context(version=ssl.TLSVersion.TLSv1_2))


def test_ciphers_setting_picks_the_tls12_cipher(server, pki):
    start_tls(server, pki, "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305")
    _, body, info = tls_get(server, pki, "/echo",
                            ctx=pki.client_context(version=ssl.TLSVersion.TLSv1_2))
    assert info["cipher"] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    assert json.loads(body)["tls"]["SSL_CIPHER"] == "ECDHE-ECDSA-CHACHA20-POLY1305"


def test_access_log_atoms(server, pki, tmp_path):
    log = tmp_path / "access.log"
    start_tls(server, pki, "--access-logfile", str(log), "--access-logformat",
              '%(s)s %({SSL_PROTOCOL}e)s %({ssl_cipher}e)s')
    tls_get(server, pki, "/")
    tls_get(server, pki, "/", ctx=pki.client_context(version=ssl.TLSVersion.TLSv1_2))
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, what="access log")
    lines = log.read_text().splitlines()
    assert lines[0].startswith("200 TLSv1.3 TLS_")
    assert lines[1].startswith("200 TLSv1.2 ECDHE-")


def test_wsgi_url_scheme_and_environ(server, pki):
    server.start("-b", f"https://127.0.0.1:{server.port}", *pki.server_args(), "--app-path",
                 APPS, app="wsgi_checked:app", bind=False,
                 env={"PYTHONDONTWRITEBYTECODE": "1"})
    _, body, _ = tls_get(server, pki, "/environ",
                         ctx=pki.client_context())
    env = json.loads(body)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] == "on" and env["SSL_PROTOCOL"] == "TLSv1.3"


# -- the handshake stays off the app's path ------------------------------------------------

def client_hello():
    """The first bytes a real client sends: a ClientHello, from Python's ssl memory BIOs."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_stalled_handshakes_hold_no_worker(server, pki):
    start_tls(server, pki, "-w", "1", "--tls-handshake-timeout", "3")
    silent = socket.create_connection(("127.0.0.1", server.port))
    half = socket.create_connection(("127.0.0.1", server.port))
    hello = client_hello()
    half.sendall(hello[: len(hello) // 2])
    # Wait until the one worker has accepted both (it accepts one per wake-up): then any
    # request served afterwards was served while both handshakes hang.
    served = [tls_get(server, pki, "/pid")[1] for _ in range(3)]
    assert len(set(served)) == 1  # one worker, serving while two handshakes stall
    # The deadline closes both: EOF (or a reset), and the debug line says why.
    for s in (silent, half):
        s.settimeout(10)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()
    wait_for(lambda: server.log().count("TLS handshake not completed in time") >= 2,
             what="handshake timeouts logged")
    assert tls_get(server, pki, "/pid")[1] == served[0]


# -- bad input ---------------------------------------------------------------------------------

def test_bad_input_closes_cleanly_and_the_worker_lives(server, pki):
    start_tls(server, pki, "-w", "1")
    pid = tls_get(server, pki, "/pid")[1]
    # Garbage where a ClientHello belongs: closed, with the alert OpenSSL sends or nothing.
    for junk in (b"\x16\x03\x01\x00\x05hello", os.urandom(300), b"\x16\x03\x01\xff\xff" + b"A" * 50):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            data = b""
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                while (chunk := s.recv(4096)):
                    data += chunk
            except OSError:  # reset, or already closed by the server
                pass
            assert not data or data[0] == 0x15  # an alert record, never HTTP
    # A truncated ClientHello, then the client goes away.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(client_hello()[:40])
    # A client that closes in the middle of a record, after the handshake.
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    tls = pki.client_context().wrap_socket(raw, server_hostname="localhost")
    os.write(tls.fileno(), b"\x17\x03\x03\x40\x00" + b"\x00" * 100)
    tls.close()
    wait_for(lambda: server.log_has("TLS handshake with 127.0.0.1 failed"), what="debug line")
    assert "ERROR" not in server.log() and "CRITICAL" not in server.log()
    assert tls_get(server, pki, "/pid")[1] == pid  # same worker, alive and serving


def test_alpn_without_http11_is_refused(server, pki):
    start_tls(server, pki)
    ctx = pki.client_context()
    ctx.set_alpn_protocols(["h2"])
    with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application protocol"):
        tls_get(server, pki, "/", ctx=ctx)
    ctx = pki.client_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    assert tls_get(server, pki, "/", ctx=ctx)[2]["alpn"] == "http/1.1"


def test_renegotiation_is_refused(server, pki):
    start_tls(server, pki, "-w", "1")
    pid = tls_get(server, pki, "/pid")[1]
    # s_client's "R" command asks for a TLS 1.2 renegotiation.
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_2",
                        "-CAfile", pki.path("ca.pem")],
                       input=b"R\n", capture_output=True, timeout=30)
    out = p.stdout + p.stderr
    assert b"RENEGOTIATING" in out
    assert b"no renegotiation" in out or b"alert" in out.lower() or p.returncode != 0
    assert tls_get(server, pki, "/pid")[1] == pid


# -- client certificates -----------------------------------------------------------------------

def test_client_certificate_required(server, pki):
    start_tls(server, pki, "-w", "1", "--ca-certs", pki.path("ca.pem"), "--cert-reqs", "2")
    pid = tls_get(server, pki, "/pid", ctx=pki.client_context("client"))[1]
    _, body, _ = tls_get(server, pki, "/echo", ctx=pki.client_context("client"))
    tlsvars = json.loads(body)["tls"]
    assert tlsvars["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert tlsvars["SSL_CLIENT_S_DN"] == "CN=alice,O=cppicorn tests"
    assert tlsvars["SSL_CLIENT_I_DN"] == "CN=cppicorn test CA"
    # No certificate: refused in the handshake (TLS 1.3 reports it on the first read).
    for cert in (None, "intruder"):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            tls_get(server, pki, "/pid", ctx=pki.client_context(cert))
    r = curl(pki, f"https://127.0.0.1:{server.port}/pid")
    assert r.returncode != 0
    wait_for(lambda: server.log_has("peer did not return a certificate"), what="debug line")
    assert tls_get(server, pki, "/pid", ctx=pki.client_context("client"))[1] == pid
    r = curl(pki, f"https://127.0.0.1:{server.port}/echo", "--cert", pki.path("client.pem"),
             "--key", pki.path("client.key"))
    assert json.loads(r.stdout)["tls"]["SSL_CLIENT_S_DN"] == "CN=alice,O=cppicorn tests"


def test_client_certificate_optional(server, pki):
    start_tls(server, pki, "--ca-certs", pki.path("ca.pem"), "--cert-reqs", "optional")
    _, body, _ = tls_get(server, pki, "/echo")
    assert json.loads(body)["tls"]["SSL_CLIENT_VERIFY"] == "NONE"
    _, body, _ = tls_get(server, pki, "/echo", ctx=pki.client_context("client"))
    assert json.loads(body)["tls"]["SSL_CLIENT_S_DN"] == "CN=alice,O=cppicorn tests"


# -- resumption across workers -----------------------------------------------------------------
