"""Processes an app forks (os.fork, multiprocessing pools, a native app's fork()) start clean:
default signal dispositions, an empty signal mask, none of the server's sockets, event-loop
fds or pipes, so nothing they do reaches their worker, and an orphan neither keeps the port
nor ignores SIGTERM. The apps are apps/forker.py (Python) and diag's /fork (native)."""
import os
import signal
import socket

import pytest

from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
GLIBC_INTERNAL = (1 << 31) | (1 << 32)  # signals 32 and 33: bit N-1 for signal N


@pytest.fixture(params=["sync", "gthread"])
def worker_class(request):
    """Every test runs under each worker class: a gthread app forks from a pool thread."""
    return [] if request.param == "sync" else ["-k", "gthread", "--threads", "4"]


def forker(server, *args, workers=1):
    server.start("-w", str(workers), "--app-path", APPS, *args, app="forker:app", env=ENV)
    return server


def body(server, path, timeout=30):
    """GET path: the text body of a 200 answer. The timeout only guards against a hang."""
    status, _, data = server.request("GET", path, timeout=timeout)
    assert status == 200, (path, status, data)
    return data.decode().strip()


def signal_masks(pid):
    """SigBlk, SigIgn and SigCgt of a process, as ints."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith("Sig"))
    return {k: int(fields[k], 16) for k in ("SigBlk", "SigIgn", "SigCgt")}


def fd_targets(pid):
    targets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return targets


def port_sockets(port, listening_only=False):
    """socket:[inode] of every IPv4 TCP socket bound to port (state 0A is LISTEN)."""
    found = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) != port:
                continue
            if listening_only and parts[3] != "0A":
                continue
            found.add(f"socket:[{parts[9]}]")
    return found


def gone(pid):
    """True once pid has exited (reaped, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def assert_same_worker(server, worker):
    assert int(body(server, "/pid")) == worker
    assert server.workers() == {worker}
    assert "Worker exiting" not in server.log(), server.log()


@pytest.mark.parametrize("preload", [False, True], ids=["worker-load", "preload"])
def test_child_sigterm_to_itself_ends_the_child_not_the_worker(server, preload, worker_class):
    forker(server, *worker_class, *(["--preload"] if preload else []))
    worker = int(body(server, "/pid"))
    for _ in range(3):
        # The child dies of its own TERM: the default disposition, not an inherited handler
        # that would pass it on to the worker's loop (which then stopped gracefully).
        assert body(server, "/fork-term") == "signal 15"
        assert_same_worker(server, worker)


@pytest.mark.parametrize("thread", ["main", "blocked"])
def test_child_killed_from_outside_ends_on_sigterm(server, thread, worker_class):
    """Also when forked from a thread that blocks every signal (a thread pool's): the
    child's mask is empty all the same."""
    forker(server, *worker_class)
    worker = int(body(server, "/pid"))
    child = int(body(server, "/fork-sleep" + ("?blocked=1" if thread == "blocked" else "")))
    try:
        assert signal_masks(child)["SigBlk"] == 0
        os.kill(child, signal.SIGTERM)
        assert body(server, f"/reap?pid={child}", timeout=10) == "signal 15"
    finally:
        kill_quietly(child)
    assert_same_worker(server, worker)


@pytest.mark.parametrize("ctx", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pools_leave_workers_alone(server, ctx, worker_class):
    """Pool.__exit__ terminates its processes with SIGTERM. The fork pool's children used to
    carry the worker's handlers: their TERM stopped the worker, or they ignored it and the
    request hung until the worker timeout."""
    forker(server, *worker_class, "--timeout", "60", workers=2)
    workers = server.wait_workers(2)
    for _ in range(15):
        assert body(server, f"/pool?ctx={ctx}", timeout=50) == "100"  # sum(abs(-10..9))
    assert server.workers() == workers
    assert "Worker exiting" not in server.log(), server.log()
    assert "WORKER TIMEOUT" not in server.log(), server.log()


def test_orphaned_child_frees_the_port_and_obeys_sigterm(server, worker_class):
    forker(server, *worker_class)
    worker = int(body(server, "/pid"))
    child = int(body(server, "/fork-sleep"))
    try:
        # The child holds no socket on the server's port (listener or connection) and no
        # socket, pipe, epoll set or eventfd of its worker's.
        held = fd_targets(child)
        assert not held & port_sockets(server.port), held
        assert port_sockets(server.port, listening_only=True) & fd_targets(worker)
        shared = {t for t in held & fd_targets(worker)
                  if t.startswith(("socket:", "pipe:", "anon_inode:"))}
        assert not shared, shared
        masks = signal_masks(child)
        # glibc's own handlers for its internal signals 32 and 33 (SIGCANCEL, SIGSETXID) are
        # there in any process that started threads (gthread): not the server's.
        masks["SigCgt"] &= ~GLIBC_INTERNAL
        assert masks == {"SigBlk": 0, "SigIgn": 0, "SigCgt": 0}

        os.kill(worker, signal.SIGKILL)
        server.wait_workers(1)
        wait_for(lambda: server.workers() != {worker}, what="a new worker")
        server.stop()
        assert server.proc.returncode is not None
        wait_for(lambda: not port_sockets(server.port, listening_only=True),
                 what="nothing listening on the port")
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", server.port))
            s.listen()
        assert not gone(child), "the orphan must live on until it is told to stop"
        os.kill(child, signal.SIGTERM)
        wait_for(lambda: gone(child), what="the orphan to end on SIGTERM")
    finally:
        kill_quietly(child)


def test_native_app_child_sigterm_ends_the_child_not_the_worker(server, worker_class):
    server.start("-w", "1", *worker_class, app="diag:app")
    worker = int(body(server, "/pid"))
    for _ in range(3):
        assert body(server, "/fork") == "signal 15"
        assert_same_worker(server, worker)
