"""Listeners through the installed binary: a unix socket (served to curl, removed on exit, a
stale file replaced), an inherited listening socket as fd://3, TCP_DEFER_ACCEPT
(defer_accept), and how workers wait on the shared listeners (EPOLLEXCLUSIVE)."""
import ctypes
import json
import os
import signal
import socket
import stat
import subprocess

from conftest import free_port, wait_for


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
        assert code == 2  # a configuration error (cppicorn(1) EXIT STATUS), not restarted
        assert "fd://3" in server.log() and "not a listening" in server.log()
    finally:
        a.close()
        b.close()


def ss_states(port, client_port):
    """The server-side TCP states the kernel reports for one client connection."""
    out = subprocess.run(["ss", "-Htn", "state", "all",
                          f"( sport = :{port} and dport = :{client_port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines()]


def test_defer_accept_holds_a_silent_connection_in_the_kernel(server):
    # 30 s: far longer than the test, so the kernel cannot give up waiting for data.
    server.start("--defer-accept", "30", "-w", "1")
    with listening_socket_of(server.proc.pid, server.port) as listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        client_port = s.getsockname()[1]
        # Connected from the client's side, but the server's kernel keeps it half-open until
        # bytes arrive: no worker is woken for a client that says nothing.
        assert ss_states(server.port, client_port) == ["SYN-RECV"]
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"Hello, World!\n")


def listening_socket_of(pid, port):
    """A copy (pidfd_getfd) of process pid's socket listening on TCP port: its options can
    then be read with getsockopt, as the server set them."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":  # LISTEN
                inode = parts[9]
    assert inode is not None, f"nothing listens on {port}"
    target = next(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]")
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(438, pidfd, target, 0)  # pidfd_getfd (x86-64)
        assert fd >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


def test_defer_accept_0_accepts_at_once(server):
    """--defer-accept 0: a silent connection is accepted by the worker at once (it holds the
    socket), not left in the kernel until data arrives."""
    from test_signals import holds_connection
    server.start("--defer-accept", "0", "-w", "1")
    (worker,) = server.wait_workers(1)
    # The option itself is off on the socket (a defer of a few seconds would also end in an
    # accept, just later).
    with listening_socket_of(server.proc.pid, server.port) as listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) == 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        client_port = s.getsockname()[1]
        wait_for(lambda: ss_states(server.port, client_port) == ["ESTAB"],
                 what="the connection established on the server side")
        wait_for(lambda: holds_connection(worker, server.port, client_port),
                 what="the worker to accept the silent connection")


def epoll_registrations(pid):
    """{target fd: event mask} of every epoll set process pid holds (from /proc fdinfo)."""
    targets = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:  # "tfd:        3 events:       19 data: ..."
                    if line.startswith("tfd:"):
                        fields = line.split()
                        targets[int(fields[1])] = int(fields[3], 16)
        except FileNotFoundError:
            pass
    return targets


def fd_of_socket(pid, port):
    """The fd number process pid holds the listening socket on port as."""
    out = subprocess.run(["ss", "-Htlne", f"sport = :{port}"], capture_output=True,
                         text=True, check=True).stdout
    inode = out.split("ino:")[1].split()[0]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
            return int(fd)
    raise AssertionError(f"pid {pid} has no fd for the listener on port {port}")


EPOLLEXCLUSIVE = 1 << 28


def test_workers_wait_on_listeners_exclusively(server):
    """Every worker watches each listener with EPOLLEXCLUSIVE, so a new connection wakes
    one idle worker instead of all of them (the thundering herd), on every listener."""
    second = free_port()
    server.start("-b", f"127.0.0.1:{second}", "-w", "2")
    workers = server.wait_workers(2)
    for pid in workers:
        registered = wait_for(lambda: epoll_registrations(pid), what="the worker's epoll set")
        for port in (server.port, second):
            fd = fd_of_socket(pid, port)
            assert fd in registered, (pid, port, registered)
            assert registered[fd] & EPOLLEXCLUSIVE, hex(registered[fd])
    # The wake-up arrives tagged as another fd; each listener still reaches its own accept.
    for port in (server.port, second) * 3:
        out = subprocess.run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/"],
                             capture_output=True)
        assert out.stdout == b"Hello, World!\n", out.stderr
