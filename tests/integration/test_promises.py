"""Documented behaviour that had no test (test-audit.md section 8), each through the installed
binary: an IPv6 listener, --reuse-port, --umask, --max-requests-jitter, LISTEN_* and
NOTIFY_SOCKET cleared for workers, fd://NAME errors, the limit_request_* settings and their
neighbours end to end, access_logfile '-', --log-level, and the app loaders' rules."""
import json
import os
import re
import socket
import stat
import subprocess

import pytest

from conftest import RawReader, exchange, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
PYENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# -- listeners -------------------------------------------------------------------------------

def test_ipv6_listener(server):
    assert has_ipv6_loopback(), "this host has no ::1; the IPv6 listener cannot be tested"
    server.start("-b", f"[::1]:{server.port}", bind=False, wait=False)
    wait_for(lambda: server.log_has(f"Listening at: http://[::1]:{server.port}"), what="listening")
    out = wait_for(lambda: subprocess.run(
        ["curl", "-sS", "-g", "--max-time", "5", f"http://[::1]:{server.port}/"],
        capture_output=True).stdout, what="an answer over IPv6")
    assert out == b"Hello, World!\n"
    with pytest.raises(OSError):  # only [::1]: nothing on 127.0.0.1
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


@pytest.mark.parametrize("reuse", [True, False], ids=["reuse-port", "default"])
def test_reuse_port_lets_another_socket_bind_the_port(server, reuse):
    """SO_REUSEPORT on the listener, read back by its effect: a second SO_REUSEPORT socket
    of the same user can bind the same address only if the first one has it too."""
    server.start("-w", "1", *(["--reuse-port"] if reuse else []))
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if reuse:
            other.bind(("127.0.0.1", server.port))
        else:
            with pytest.raises(OSError, match="in use"):
                other.bind(("127.0.0.1", server.port))
    assert server.request("GET", "/")[0] == 200


def test_umask_applies_to_socket_pid_and_log_files(server, tmp_path):
    sock = str(tmp_path / "s.sock")
    pidfile = str(tmp_path / "p.pid")
    access = str(tmp_path / "access.log")
    server.start("-b", f"unix:{sock}", "-m", "0o077", "-p", pidfile, "--access-logfile", access,
                 bind=False, wait=False)
    wait_for(lambda: os.path.exists(sock) and os.path.exists(pidfile), what="socket and pidfile")
    out = wait_for(lambda: subprocess.run(["curl", "-sS", "--max-time", "5", "--unix-socket",
                                           sock, "http://x/"], capture_output=True).stdout,
                   what="an answer on the unix socket")
    assert out == b"Hello, World!\n"
    wait_for(lambda: os.path.exists(access), what="the access log")
    for path in (sock, pidfile, server.log_path, access):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path}: {oct(mode)}"


def test_max_requests_jitter_adds_0_to_n(server):
    """--max-requests 1 --max-requests-jitter 3: each worker serves 1..4 requests, and not all
    the same number (10 workers in a row: all equal has odds of 4^-9)."""
    from test_lifecycle import get_pid, start_unprobed
    start_unprobed(server, "-w", "1", "--max-requests", "1", "--max-requests-jitter", "3")
    runs, last, n = [], None, 0
    while len(runs) < 10:
        pid = get_pid(server)
        if pid != last and last is not None:
            runs.append(n)
            n = 0
        last, n = pid, n + 1
    print(f"requests per worker: {runs}")
    assert all(1 <= r <= 4 for r in runs), runs
    assert len(set(runs)) > 1, runs


# -- environment and inherited sockets -------------------------------------------------------

def wrapped(server, tmp_path, assignments):
    """Runs the server through sh so that its env can name its own pid ($$ after exec)."""
    wrapper = tmp_path / "wrap"
    wrapper.write_text(f'#!/bin/sh\n{assignments} exec {server.binary} "$@"\n')
    wrapper.chmod(0o755)
    server.binary = str(wrapper)


def test_systemd_variables_cleared_for_workers(server, tmp_path):
    """LISTEN_FDS/PID/FDNAMES, NOTIFY_SOCKET and WATCHDOG_* are the master's (cppicorn(1),
    cppicorn.systemd(7)): a worker, and the app in it, never sees them."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    port = lst.getsockname()[1]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "n.sock"))
    wrapped(server, tmp_path, "LISTEN_PID=$$ WATCHDOG_PID=$$")
    server.port = port
    try:
        server.start("-b", "fd://http", "--app-path", APPS, app="envdump:app", bind=False,
                     fds={3: lst.fileno()},
                     env={**PYENV, "LISTEN_FDS": "1", "LISTEN_FDNAMES": "http",
                          "NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "5000000"})
        doc = json.loads(server.request("GET", "/")[2])
        assert doc["env"] == {}, doc
        assert doc["pid"] in server.workers()
        # The master used them: it serves on the passed socket and speaks to NOTIFY_SOCKET.
        notify.settimeout(10)
        assert b"READY=1" in notify.recv(4096)
    finally:
        lst.close()
        notify.close()


def test_fd_name_errors(server, tmp_path):
    """fd://NAME with no socket of that name: exit 2 with the name (no worker starts)."""
    code = server.start("-b", "fd://nosuch", bind=False, wait=False).wait_exit(10)
    out = server.log() + open(os.path.join(server.tmpdir, "stdout.log")).read()
    assert code == 2, out
    assert "nosuch" in out
    assert "Booting worker" not in out


def test_passed_socket_no_bind_names_is_closed_with_a_warning(server, tmp_path):
    a, b = socket.socket(), socket.socket()
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.listen(16)
    wrapped(server, tmp_path, "LISTEN_PID=$$")
    server.port = a.getsockname()[1]
    try:
        server.start("-b", "fd://a", bind=False, fds={3: a.fileno(), 4: b.fileno()},
                     env={"LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"})
        wait_for(lambda: re.search(r"warn.*\bb\b|\bb\b.*warn", server.log(), re.I | re.S),
                 what="a warning about the socket named b")
        target = os.readlink(f"/proc/self/fd/{b.fileno()}")
        held = [os.readlink(f"/proc/{server.proc.pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{server.proc.pid}/fd")]
        assert target not in held, "the unnamed socket is still open in the master"
        assert os.readlink(f"/proc/self/fd/{a.fileno()}") in held
    finally:
        a.close()
        b.close()


# -- HTTP limits and parsing settings, through the CLI ---------------------------------------

def status_of(server, data):
    return exchange(server, data).status


def test_limit_request_field_size_and_zero_means_unlimited(server, binary, examples, tmp_path):
    from conftest import Server
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200 + b"\r\n\r\n"
    server.start("-w", "1", "--limit-request-field_size", "100")
    assert status_of(server, big) == 431
    assert status_of(server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Small: a\r\n\r\n") == 200
    # 0 = unlimited for each limit_request_* (the head as a whole stays bounded).
    other = Server(binary, examples, str(tmp_path / "zero"))
    os.makedirs(other.tmpdir)
    other.start("-w", "1", "--limit-request-field-size", "0", "--limit-request-line", "0",
                "--limit-request-fields", "0", "--limit-request-body", "0", app="diag:app")
    try:
        huge_field = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        assert status_of(other, huge_field) == 200
        long_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert status_of(other, long_line) == 404  # parsed and routed: diag has no such path
        many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i
                                                          for i in range(150)) + b"\r\n"
        assert status_of(other, many) == 200
        body = b"x" * 3_000_000
        resp = exchange(other, b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body, timeout=30)
        assert (resp.status, len(resp.body)) == (200, len(body))
    finally:
        other.stop()
    # and the defaults do limit: the same long line and field under the defaults
    assert status_of(server, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 414


@pytest.mark.parametrize("permit", [False, True], ids=["default", "permit-bare-lf"])
def test_permit_bare_lf(server, permit):
    server.start("-w", "1", *(["--permit-bare-lf"] if permit else []))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\nHost: x\n\n")
        resp = RawReader(s).read_response()
    assert resp.status == (200 if permit else 400)


@pytest.mark.parametrize("mode,expect", [("drop", (200, False)), ("refuse", (400, None)),
                                         ("dangerous", (200, True))])
def test_header_map(server, mode, expect):
    server.start("-w", "1", "--header-map", mode, app="diag:app")
    resp = exchange(server, b"GET /echo HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\n\r\n")
    assert resp.status == expect[0]
    if resp.status == 200:
        names = [h[0].lower() for h in json.loads(resp.body)["headers"]]
        assert ("x_under" in names) == expect[1], names


# -- logs ------------------------------------------------------------------------------------

def test_access_logfile_dash_goes_to_stdout(server):
    server.start("-w", "1", "--access-logfile", "-", split_stderr=True)
    assert server.request("GET", "/dash-check")[0] == 200
    stdout = os.path.join(server.tmpdir, "stdout.log")
    line = wait_for(lambda: next((x for x in open(stdout).read().splitlines()
                                  if "/dash-check" in x), None), what="the access line on stdout")
    assert '"GET /dash-check HTTP/1.1" 200' in line
    assert "/dash-check" not in open(os.path.join(server.tmpdir, "stderr.log")).read()
    assert "/dash-check" not in server.log()  # not in the error log


@pytest.mark.parametrize("level", ["debug", "warning"])
def test_log_level_filters_the_error_log(server, level):
    server.start("-w", "1", "--log-level", level, app="diag:app", wait=False)
    wait_for(server.accepts, what="serving")  # "Booting worker" is info: not there to wait on
    assert server.request("GET", "/throw")[0] == 500  # logged at error priority
    wait_for(lambda: server.log_has("diag throw"), what="the error line")
    if level == "warning":
        assert "Booting worker" not in server.log()  # info
        assert "Listening at" not in server.log()
    else:
        assert "Listening at" in server.log()
        assert re.search(r"\[DEBUG\]|\bdebug\b", server.log(), re.I), server.log()[-2000:]


# -- the app loaders -------------------------------------------------------------------------

def test_native_symbol_defaults_to_app_and_module_with_slash_is_a_path(server, examples):
    server.start("-w", "1", app="hello")  # no ':SYMBOL': the export named app
    assert server.request("GET", "/")[2] == b"Hello, World!\n"
    server.stop()
    so = next(os.path.join(examples, f) for f in os.listdir(examples) if f.startswith("diag")
              and f.endswith(".so"))
    server.port = free_port()
    server.start("-w", "1", app=f"{so}:app")  # a MODULE with '/' is a file path
    assert server.request("GET", "/pid")[2].strip().isdigit()


def test_app_set_server_header_replaces_the_servers(server):
    server.start("-w", "1", app="diag:app")
    status, headers, _ = server.request("GET", "/header?name=Server&value=mine")
    assert status == 200
    raw = exchange(server, b"GET /header?name=Server&value=mine HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [v for k, v in raw.headers if k.lower() == "server"] == ["mine"]


def test_wsgi_package_and_sys_path(server):
    server.start("-w", "1", "--app-path", APPS, app="pkgapp:app", env=PYENV)
    assert server.request("GET", "/")[2] == b"from a package\n"
    server.stop()
    server.port = free_port()
    server.start("-w", "1", "--app-path", APPS, app="envdump:app", env=PYENV)
    assert json.loads(server.request("GET", "/")[2])["path0"] == APPS
