"""The master's signals through the installed binary: TTIN/TTOU, a SIGKILLed worker, TERM and
INT with a request in flight, HUP reloads (under load, and with a broken file)."""
import http.client
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port, in_sleep, wait_for


class InFlight:
    """One request in a thread; records the status/body or the exception."""

    def __init__(self, port, path, timeout=30):
        self.port, self.path, self.timeout = port, path, timeout
        self.status = self.body = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path)
            resp = conn.getresponse()
            self.status, self.body = resp.status, resp.read()
        except Exception as e:  # noqa: BLE001
            self.error = e
        finally:
            conn.close()

    def join(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request still running"
        return self


def test_ttin_adds_ttou_removes(server):
    server.start("-w", "1")
    first = server.wait_workers(1)
    server.signal(signal.SIGTTIN)
    two = server.wait_workers(2)
    assert first < two
    server.signal(signal.SIGTTIN)
    server.wait_workers(3)
    server.signal(signal.SIGTTOU)
    server.wait_workers(2)
    server.signal(signal.SIGTTOU)
    server.wait_workers(1)
    assert server.request("GET", "/")[0] == 200


def test_ttou_retires_the_oldest_gracefully(server):
    """README: on TTOU the oldest worker retires gracefully: the first worker goes, not the
    newer one, and the request it is serving is answered first."""
    server.start("-w", "1", "--graceful-timeout", "10", app="diag:app")
    (oldest,) = server.wait_workers(1)
    req = InFlight(server.port, "/sleep?ms=1500")
    wait_for(lambda: in_sleep(oldest), what="the request in the oldest worker")
    server.signal(signal.SIGTTIN)
    (newer,) = server.wait_workers(2) - {oldest}
    server.signal(signal.SIGTTOU)
    req.join()
    assert (req.status, req.body) == (200, b"slept 1500\n"), req.error
    assert server.wait_workers(1) == {newer}
    assert f"Worker exiting (pid: {oldest})" in server.log()  # it stopped by itself


def test_ttou_at_one_worker_keeps_one(server):
    server.start("-w", "1")
    pids = server.wait_workers(1)
    server.signal(signal.SIGTTOU)
    wait_for(lambda: server.log_has("Handling signal: ttou"), what="TTOU handled")
    wait_for(lambda: server.log_has("Ignoring TTOU"), what="TTOU refused at one worker")
    assert server.workers() == pids
    assert server.request("GET", "/")[0] == 200
    assert server.workers() == pids


def test_sigkilled_worker_is_replaced(server):
    server.start("-w", "2")
    pids = server.wait_workers(2)
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: server.log_has(f"Worker (pid:{victim}) was sent SIGKILL!"),
             what="SIGKILL logged")
    now = wait_for(lambda: (lambda w: len(w) == 2 and victim not in w and w)(server.workers()),
                   what="a replacement worker")
    assert (pids - {victim}) < now, "the other worker must be untouched"
    assert server.request("GET", "/")[0] == 200


def test_term_lets_inflight_request_finish(server):
    server.start("-w", "1", "--graceful-timeout", "5", app="diag:app")
    (worker,) = server.wait_workers(1)
    req = InFlight(server.port, "/sleep?ms=1500")
    wait_for(lambda: in_sleep(worker), what="the request to be in the app")
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    req.join()
    code = server.wait_exit(20)
    print(f"TERM: master exited {code} after {time.monotonic() - t0:.2f}s")
    assert req.error is None, repr(req.error)
    assert (req.status, req.body) == (200, b"slept 1500\n")
    assert code == 0
    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_int_cuts_inflight_request(server):
    server.start("-w", "1", "--graceful-timeout", "5", app="diag:app")
    (worker,) = server.wait_workers(1)
    req = InFlight(server.port, "/sleep?ms=5000")
    wait_for(lambda: in_sleep(worker), what="the request to be in the app")
    t0 = time.monotonic()
    server.signal(signal.SIGINT)
    req.join()
    code = server.wait_exit(20)
    print(f"INT: master exited {code} after {time.monotonic() - t0:.2f}s; client got "
          f"{req.error!r}")
    assert req.status is None, f"got a response: {req.status} {req.body!r}"
    assert isinstance(req.error, (http.client.RemoteDisconnected, ConnectionResetError)), \
        repr(req.error)
    assert code == 0


def holds_connection(pid, server_port, client_port):
    """Whether process pid holds the server side of the TCP connection from client_port:
    the socket's inode from /proc/net/tcp, looked for among the process's fds."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if (int(local.split(":")[1], 16) == server_port
                    and int(remote.split(":")[1], 16) == client_port):
                inode = parts[9]
    if inode is None:
        return False
    target = f"socket:[{inode}]"
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except FileNotFoundError:
            pass
    return False


def test_hup_answers_connection_accepted_before_its_request(server):
    """A connection the old worker accepted, whose request had not arrived when the worker was
    told to stop, is still answered: the client did nothing wrong and cannot retry safely."""
    server.start("-w", "1", "--graceful-timeout", "5", "--keep-alive", "5")
    (old,) = server.wait_workers(1)
    probe = server.connection()
    probe.request("GET", "/")
    probe.getresponse().read()  # an idle keep-alive connection on the old worker
    fresh = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        # (Not a count of the worker's sockets: an earlier connection closing at the same
        # moment would hide the new one.)
        client_port = fresh.getsockname()[1]
        wait_for(lambda: holds_connection(old, server.port, client_port),
                 what="the old worker to accept")
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.log_has("Reloaded"), what="the reload (old worker told to stop)")

        def old_worker_stopping():
            # The probe's next answer says close (or the probe was closed): either way the old
            # worker has handled its TERM.
            try:
                probe.request("GET", "/")
                resp = probe.getresponse()
                resp.read()
                return resp.will_close
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                return True
        wait_for(old_worker_stopping, what="the old worker to handle TERM")
        fresh.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"Hello, World!\n" not in data:
            chunk = fresh.recv(4096)
            assert chunk, f"closed without a response (got {data!r})"
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")
    finally:
        fresh.close()
        probe.close()


def write_config(path, workers, extra=""):
    with open(path, "w") as f:
        f.write(f"# test config\nworkers: {workers}\ngraceful_timeout: 5\n{extra}")


@pytest.mark.parametrize("keepalive", [False, True], ids=["close", "keepalive"])
def test_hup_rotates_workers_under_load(server, load_client, tmp_path, keepalive):
    cfg = str(tmp_path / "cppicorn.yaml")
    write_config(cfg, 2)
    server.start("-c", cfg)
    old = server.wait_workers(2)
    with load_client(server.port, threads=4, keepalive=keepalive) as load:
        wait_for(lambda: load.ok >= 50, what="load flowing")
        write_config(cfg, 3)
        server.signal(signal.SIGHUP)
        new = wait_for(lambda: (lambda w: len(w) == 3 and not (w & old) and w)(server.workers()),
                       timeout=15, what="3 new workers and no old one")
        wait_for(lambda: server.log_has("Reloaded"), what="reload logged")
        after = load.ok
        wait_for(lambda: load.ok >= after + 50, what="load served by the new generation")
    # Each thread's connection is closed once by its retiring worker at most.
    load.check(max_reused_closed=4 if keepalive else 0)
    assert server.workers() == new
    assert server.proc.poll() is None


def test_hup_with_broken_yaml_keeps_workers(server, tmp_path):
    cfg = str(tmp_path / "cppicorn.yaml")
    write_config(cfg, 2)
    server.start("-c", cfg)
    old = server.wait_workers(2)
    with open(cfg, "w") as f:
        f.write("workers: 3\ngraceful_timeout: 5\nworkrs: 4\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.log_has("Reload refused"), what="reload refused")
    line = next(x for x in server.log().splitlines() if "Reload refused" in x)
    print(line)
    assert f"{cfg}:3:" in line
    assert "did you mean 'workers'" in line
    assert server.workers() == old
    for _ in range(4):
        assert server.request("GET", "/")[0] == 200
    assert server.workers() == old


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def curl_ok(port):
    out = subprocess.run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/"],
                         capture_output=True)
    return out.stdout == b"Hello, World!\n"


def test_hup_rebinds_changed_listeners(server, tmp_path):
    """HUP with a changed `bind`, as gunicorn: a kept address keeps its socket (a client
    queued on it across the reload is answered), a new one is bound, a dropped one stops
    accepting once the old workers are gone, and one that cannot be bound refuses the reload."""
    cfg = str(tmp_path / "cppicorn.yaml")
    first, second, third = server.port, free_port(), free_port()
    write_config(cfg, 1, f"bind: ['127.0.0.1:{first}']\n")
    server.start("-c", cfg, bind=False)
    old = server.wait_workers(1)
    queued = socket.create_connection(("127.0.0.1", first), timeout=10)

    write_config(cfg, 1, f"bind: ['127.0.0.1:{first}', '127.0.0.1:{second}']\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.log_has(f"Listening at: http://127.0.0.1:{second}"),
             what="the new listener")
    both = wait_for(lambda: (lambda w: len(w) == 1 and not (w & old) and w)(server.workers()),
                    what="the old worker replaced")
    assert curl_ok(second) and curl_ok(first)
    queued.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := queued.recv(4096):
        reply += chunk
    queued.close()
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply

    write_config(cfg, 1, f"bind: ['127.0.0.1:{second}']\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.log_has(f"Stopped listening at: http://127.0.0.1:{first}"),
             what="the dropped listener logged")
    wait_for(lambda: refused(first), what="the dropped address refusing connections")
    assert curl_ok(second)
    current = wait_for(lambda: (lambda w: len(w) == 1 and not (w & both) and w)(server.workers()),
                       what="the worker replaced again")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", third))
        taken.listen(1)
        write_config(cfg, 1, f"bind: ['127.0.0.1:{second}', '127.0.0.1:{third}']\n")
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.log_has("Reload refused"), what="the reload refused")
        line = next(x for x in server.log().splitlines() if "Reload refused" in x)
        print(line)
        assert f"cannot bind 127.0.0.1:{third}" in line
        assert curl_ok(second)
        assert server.workers() == current


def test_failed_reload_puts_the_previous_listeners_back(server, tmp_path):
    """A reload that binds a new address but whose workers cannot load the app is undone,
    listeners included: the new address is released, the old one serves on."""
    cfg = tmp_path / "cppicorn.yaml"
    first, second = server.port, free_port()
    settings = "workers: 1\ngraceful_timeout: 5\n"
    cfg.write_text(f"app: hello:app\n{settings}bind: ['127.0.0.1:{first}']\n")
    server.start("-c", str(cfg), app=None, bind=False)
    old = server.wait_workers(1)
    both = f"bind: ['127.0.0.1:{first}', '127.0.0.1:{second}']\n"
    cfg.write_text(f"app: nosuchmodule:app\n{settings}{both}")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.log_has("Reload failed"), what="the failed reload logged")
    wait_for(lambda: server.proc.poll() is not None or server.workers() == old,
             what="the failed generation gone")
    assert server.proc.poll() is None, f"a failed reload stopped the server:\n{server.log()}"
    wait_for(lambda: refused(second), what="the failed reload's address released")
    assert curl_ok(first)
    cfg.write_text(f"app: hello:app\n{settings}{both}")
    server.signal(signal.SIGHUP)
    wait_for(lambda: curl_ok(second), what="the next good reload serving the new address")
    assert curl_ok(first)


def test_term_with_idle_keepalive_connection(server):
    """TERM must not wait for an idle keep-alive client: the worker closes it and exits by
    itself, long before --keep-alive or --graceful-timeout run out."""
    server.start("-w", "1", "--keep-alive", "30", "--graceful-timeout", "5")
    (worker,) = server.wait_workers(1)
    idle = server.connection()
    idle.request("GET", "/")
    idle.getresponse().read()
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait_exit(30)
    took = time.monotonic() - t0
    print(f"TERM with an idle keep-alive connection: exit {code} after {took:.2f}s")
    idle.close()
    assert code == 0
    # A worker that stopped by itself says so; one SIGKILLed at the graceful timeout does not.
    assert f"Worker exiting (pid: {worker})" in server.log(), server.log()
    assert "did not stop in time" not in server.log()


@pytest.fixture(scope="module")
def slowfail_dir(tmp_path_factory, prefix):
    from test_lifecycle import build_test_app
    return build_test_app("slowfail", tmp_path_factory.mktemp("slowfail"), prefix)


def test_hup_to_failing_app_keeps_old_generation(server, tmp_path, slowfail_dir):
    """A reload whose new workers all fail (exit 4) is undone and the old workers keep serving,
    however many of the new ones exit 4 after the first."""
    cfg = tmp_path / "cppicorn.yaml"
    cfg.write_text("app: hello:app\nworkers: 2\ngraceful_timeout: 5\n")
    barrier = str(tmp_path / "barrier")
    server.start("-c", str(cfg), app=None,
                 env={"SLOWFAIL_BARRIER": barrier, "SLOWFAIL_N": "3"})
    old = server.wait_workers(2)
    cfg.write_text(f"app: slowfail:app\napp_path: {slowfail_dir}\nworkers: 3\n"
                   "graceful_timeout: 5\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: server.log_has("Reload failed"), what="the failed reload logged")
    wait_for(lambda: server.proc.poll() is not None or server.workers() == old,
             what="the failed generation gone")
    assert server.proc.poll() is None, f"a failed reload stopped the server:\n{server.log()}"
    for _ in range(4):
        assert server.request("GET", "/")[0] == 200
    # A later good reload still works.
    cfg.write_text("app: hello:app\nworkers: 1\ngraceful_timeout: 5\n")
    server.signal(signal.SIGHUP)
    new = wait_for(lambda: (lambda w: len(w) == 1 and not (w & old) and w)(server.workers()),
                   what="one new worker")
    assert server.request("GET", "/")[0] == 200
    assert server.workers() == new
