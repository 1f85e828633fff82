"""Listeners through the installed binary: a unix socket (served to curl, removed on exit, a
stale file replaced) and an inherited listening socket as fd://3."""
import json
import os
import signal
import socket
import stat
import subprocess

from conftest import wait_for


def curl_unix(path, url="http://localhost/"):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", path, url],
                          capture_output=True)


def start_unix(server, path, *args):
    server.start("-b", f"unix:{path}", "-w", "2", *args, bind=False, wait=False)
    wait_for(lambda: server.proc.poll() is not None or server.log_has("Booting worker"),
             what="first worker")
    assert server.proc.poll() is None, server.log()
    wait_for(lambda: curl_unix(path).returncode == 0, what="answering on the unix socket")


def test_unix_socket(server, tmp_path):
    path = str(tmp_path / "cppicorn.sock")
    start_unix(server, path)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    out = curl_unix(path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"Hello, World!\n"
    assert f"Listening at: unix:{path}" in server.log()
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert not os.path.exists(path)


def test_unix_socket_stale_file_replaced(server, tmp_path):
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound, never listening, then closed: a leftover of a dead server
    stale.close()
    assert os.path.exists(path)
    start_unix(server, path)
    assert curl_unix(path).stdout == b"Hello, World!\n"


def test_unix_socket_remote_addr_empty(server, tmp_path):
    path = str(tmp_path / "diag.sock")
    server.start("-b", f"unix:{path}", "-w", "1", bind=False, wait=False, app="diag:app")
    wait_for(lambda: curl_unix(path).returncode == 0, what="answering on the unix socket")
    out = curl_unix(path, "http://localhost/echo")
    doc = json.loads(out.stdout)
    assert doc["remote_addr"] == ""


def test_inherited_fd(server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server.port = sock.getsockname()[1]
    try:
        server.start("-b", "fd://3", "-w", "2", bind=False, fds={3: sock.fileno()})
        assert "Listening at: http://127.0.0.1:" in server.log()
        out = subprocess.run(["curl", "-sS", "--max-time", "10",
                              f"http://127.0.0.1:{server.port}/"], capture_output=True)
        assert out.stdout == b"Hello, World!\n", out.stderr
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
    finally:
        sock.close()


def test_inherited_fd_not_a_listener_rejected(server):
    a, b = socket.socketpair()
    try:
        server.start("-b", "fd://3", bind=False, wait=False, fds={3: a.fileno()})
        code = server.wait_exit(20)
        print(server.log())
        assert code not in (0, None)
        assert "fd://3" in server.log() and "not a listening" in server.log()
    finally:
        a.close()
        b.close()
