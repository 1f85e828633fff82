"""The control socket and `cppicorn ctl`: status (text and JSON), workers +N/-N, reload and
upgrade that wait for their outcome and fail honestly, stop, SO_PEERCRED authorization, and
a master that shrugs off malformed requests."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile

from conftest import wait_for
from test_upgrade import NEXT, read_pid, replace_binary, upgradable  # noqa: F401


def ctl(server, *args, user=None, timeout=60):
    cmd = [server.ctl_exe, "ctl", "--socket", server.ctl_path, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def start(server, *args, sock_dir=None, **kwargs):
    server.ctl_path = os.path.join(sock_dir or server.tmpdir, "ctl.sock")
    server.ctl_exe = server.binary + ".ctl"  # an upgrade test replaces server.binary
    shutil.copy(server.binary, server.ctl_exe)
    server.start("--control-socket", server.ctl_path, *args, **kwargs)
    wait_for(lambda: os.path.exists(server.ctl_path), what="control socket")
    return server


def raw(server, data):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(server.ctl_path)
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_status_text_and_json(server):
    start(server, "-w", "2", app="diag:app")
    conn = server.connection(timeout=30)
    conn.request("GET", "/sleep?ms=3000")
    wait_for(lambda: "/sleep" in ctl(server, "status").stdout, what="the request in status")
    r = ctl(server, "status")
    assert r.returncode == 0, r.stderr
    assert f"master {server.proc.pid}" in r.stdout
    assert "GET /sleep?ms=3000 HTTP/1.1" in r.stdout
    doc = json.loads(ctl(server, "--json", "status").stdout)
    assert doc["master"]["pid"] == server.proc.pid and doc["master"]["ready"] is True
    workers = doc["workers"]
    assert {w["pid"] for w in workers} == server.workers()
    busy = [w for w in workers if w["state"] == "app"]
    assert len(busy) == 1 and busy[0]["request"].startswith("GET /sleep")
    assert busy[0]["request_seconds"] >= 0 and busy[0]["rss_bytes"] > 0
    assert conn.getresponse().status == 200


def test_workers_up_and_down(server):
    start(server, "-w", "1")
    r = ctl(server, "workers", "+2")
    assert r.returncode == 0 and "3 wanted" in r.stdout
    server.wait_workers(3)
    assert ctl(server, "workers", "-1").returncode == 0
    server.wait_workers(2)
    r = ctl(server, "workers", "2")
    assert r.returncode == 1 and "+N or -N" in r.stderr


def test_reload_waits_and_reports(server, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("workers: 1\n")
    start(server, "-c", str(config))
    r = ctl(server, "reload")
    assert r.returncode == 0, r.stderr
    assert "reloaded: generation 2 with 1 workers serving" in r.stdout
    config.write_text("wokers: 2\n")
    r = ctl(server, "--json", "reload")
    assert r.returncode == 1 and "wokers" in r.stderr
    # An app that cannot load in the new generation: refused after the attempt, old serves.
    config.write_text("workers: 1\naccess_logfile: /nonexistent/dir/access.log\n")
    r = ctl(server, "reload")
    assert r.returncode == 1 and "reload failed" in r.stderr, r
    assert server.request("GET", "/")[0] == 200


def test_upgrade_waits_for_the_new_master(upgradable):
    s = upgradable
    start(s, "-w", "1", "-p", s.pidfile, app="diag:app")
    replace_binary(s.binary, source=NEXT)
    r = ctl(s, "upgrade")
    assert r.returncode == 0, r.stderr
    assert "upgraded: new master (pid" in r.stdout
    assert s.wait_exit(30) == 0
    new = read_pid(s.pidfile)
    # The new master owns the socket now.
    wait_for(lambda: f"master {new}" in ctl(s, "status").stdout, timeout=30,
             what="new master on ctl")


def test_failed_upgrade_exits_nonzero(upgradable):
    s = upgradable
    start(s, "-w", "1", "-p", s.pidfile, app="diag:app")
    replace_binary(s.binary, script="#!/bin/sh\nexit 3\n")
    r = ctl(s, "upgrade")
    assert r.returncode == 1 and "upgrade failed" in r.stderr, r
    assert s.proc.poll() is None and s.request("GET", "/")[0] == 200


def test_stop(server):
    start(server)
    r = ctl(server, "stop")
    assert r.returncode == 0 and "stopping" in r.stdout
    assert server.wait_exit() == 0
    assert not os.path.exists(server.ctl_path)


def test_malformed_requests_get_errors_and_the_master_lives(server):
    start(server)
    assert raw(server, b"frobnicate\n").startswith(b"ERROR\nunknown command")
    assert raw(server, b"\n").startswith(b"ERROR\n")
    assert raw(server, b"\xff\x00\x01 --json\n").startswith(b"ERROR\n")
    assert raw(server, b"x" * 5000).startswith(b"ERROR\nrequest too long")
    with socket.socket(socket.AF_UNIX) as s:  # connects and says nothing: cut after 2 s
        s.settimeout(10)
        s.connect(server.ctl_path)
        assert s.recv(10) == b""
    assert ctl(server, "status").returncode == 0
    assert server.proc.poll() is None


def test_peercred_decides_who_may_act(server):
    # pytest's tmp dirs are 0700: the other users need a way to the socket file.
    sock_dir = tempfile.mkdtemp(prefix="cppicorn-ctl-")
    os.chmod(sock_dir, 0o755)
    start(server, "--control-group", "65534", sock_dir=sock_dir)
    os.chmod(server.ctl_path, 0o666)  # let the file through: SO_PEERCRED must still decide
    r = ctl(server, "stop", user=65534)
    assert r.returncode == 1 and "read-only" in r.stderr
    assert ctl(server, "status", user=65534).returncode == 0  # nogroup may read
    r = ctl(server, "status", user=4242)  # in no allowed group
    assert r.returncode == 1 and "not authorized" in r.stderr
    assert server.proc.poll() is None


def test_off_without_systemd_or_setting(server):
    server.start()
    assert "Control socket" not in server.log()
    r = subprocess.run([server.binary, "ctl", "status"], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "RUNTIME_DIRECTORY"})
    assert r.returncode == 2 and "--socket" in r.stderr


def test_runtime_directory_gives_the_default_path(server, tmp_path):
    rt = tmp_path / "rt"
    rt.mkdir()
    server.start(env={"RUNTIME_DIRECTORY": str(rt)})
    wait_for(lambda: (rt / "ctl").exists(), what="$RUNTIME_DIRECTORY/ctl")
    r = subprocess.run([server.binary, "ctl", "status"], capture_output=True, text=True,
                       env={**os.environ, "RUNTIME_DIRECTORY": str(rt)})
    assert r.returncode == 0 and f"master {server.proc.pid}" in r.stdout
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
