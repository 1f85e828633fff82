"""Worker lifecycle through the installed binary: crashes, exceptions, the worker timeout,
max_requests recycling, apps that cannot load (exit 4), pidfile, process titles, --user."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import RawReader, exited, in_sleep, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))


def get_pid(server):
    status, _, body = server.request("GET", "/pid")
    assert status == 200
    return int(body)


# -- crashes and exceptions ------------------------------------------------------------------

def test_crash_kills_only_its_worker(server):
    server.start("-w", "2", app="diag:app")
    pids = server.wait_workers(2)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        server.request("GET", "/crash")
    line = wait_for(lambda: re.search(r"Worker \(pid:(\d+)\) was sent SIGSEGV!", server.log()),
                    what="SIGSEGV logged")
    crashed = int(line.group(1))
    assert crashed in pids
    now = wait_for(lambda: (lambda w: len(w) == 2 and crashed not in w and w)(server.workers()),
                   what="a replacement worker")
    assert pids - {crashed} < now, "the sibling must be untouched"
    for _ in range(6):
        assert server.request("GET", "/")[0] == 200
    assert server.proc.poll() is None


def test_throw_is_500_and_worker_survives(server):
    server.start("-w", "1", app="diag:app")
    before = get_pid(server)
    status, _, body = server.request("GET", "/throw")
    assert status == 500
    assert get_pid(server) == before
    assert server.workers() == {before}
    wait_for(lambda: server.log_has("diag throw"), what="the exception logged")


# -- worker timeout --------------------------------------------------------------------------

def test_hung_request_is_killed_after_timeout(server):
    server.start("-w", "1", "-t", "2", app="diag:app")
    (worker,) = server.wait_workers(1)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        assert r.at_eof(timeout=30), "the client's connection must be closed"
    took = time.monotonic() - t0
    print(f"timeout -t 2: connection closed after {took:.2f}s")
    # The setting's effect: not before 2 s (the heartbeat is older than -t), and nowhere near
    # the 30 s default (the master checks once a second).
    assert 2 <= took < 15, took
    wait_for(lambda: server.log_has(f"WORKER TIMEOUT (pid:{worker})"), what="timeout logged")
    line = next(x for x in server.log().splitlines() if "WORKER TIMEOUT" in x)
    print(line)
    assert 'serving "GET /sleep?ms=60000 HTTP/1.1"' in line
    new = wait_for(lambda: (lambda w: len(w) == 1 and worker not in w and w)(server.workers()),
                   what="a new worker")
    assert get_pid(server) in new
    assert server.log().count("Booting worker") == 2


def test_worker_timeout_sends_sigabrt_then_sigkill(server, tmp_path):
    """README/cppicorn(1): a timed-out worker gets SIGABRT, then SIGKILL. The app records the
    SIGABRT it receives and survives it; the SIGKILL a second later ends it anyway."""
    abort_file = tmp_path / "aborts"
    here = os.path.join(HERE, "apps")
    server.start("-w", "1", "-t", "1", "--app-path", here, app="aborting:app",
                 env={"ABORT_FILE": str(abort_file), "PYTHONDONTWRITEBYTECODE": "1"})
    (worker,) = server.wait_workers(1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        assert RawReader(s).at_eof(timeout=30)
    assert abort_file.read_text().split() == ["SIGABRT", str(worker)]
    # It ignored SIGABRT, so only SIGKILL can have ended it (its sleep had 55 s to go); the
    # master expected both, so it logs neither as news.
    wait_for(lambda: worker not in server.workers() and len(server.workers()) == 1,
             what="the worker replaced")
    assert f"Worker (pid:{worker}) was sent" not in server.log()
    assert server.request("GET", "/")[0] == 200


def test_term_sigkills_workers_still_busy_after_graceful_timeout(server):
    """TERM: a worker still in a request at graceful_timeout is SIGKILLed and the master
    exits; not before the timeout (the request had its chance)."""
    server.start("-w", "1", "--graceful-timeout", "1", app="diag:app")
    (worker,) = server.wait_workers(1)
    from test_signals import InFlight
    req = InFlight(server.port, "/sleep?ms=60000")
    wait_for(lambda: in_sleep(worker), what="the request to be in the app")
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait_exit(30)
    took = time.monotonic() - t0
    req.join()
    print(f"TERM with a 60 s request, graceful_timeout 1: exit {code} after {took:.2f}s")
    assert code == 0
    assert took >= 0.95
    assert req.status is None and req.error is not None  # cut, not answered
    assert not os.path.exists(f"/proc/{worker}")  # gone (and reaped) with its master


def test_worker_that_cannot_boot_exits_3(server, tmp_path):
    """Exit status 3 (cppicorn(1)): a worker could not boot; here its access log cannot be
    opened. The master stops instead of respawning it."""
    code, log = run_to_exit(server, "--access-logfile", str(tmp_path / "no" / "such" / "a.log"),
                            app="hello:app", workers=1)
    assert code == 3, log
    assert "Worker failed to boot" in log
    assert "Reason: Worker failed to boot." in log  # the master's reason for stopping


# -- max_requests ----------------------------------------------------------------------------

def start_unprobed(server, *args, app="diag:app"):
    """Starts without the harness's readiness request (it would count against max_requests):
    connections made before the worker accepts wait in the listen queue."""
    server.start(*args, app=app, wait=False)
    wait_for(lambda: server.proc.poll() is not None or server.log_has("Booting worker"),
             what="first worker")
    assert server.proc.poll() is None, server.log()


def test_max_requests_recycles_worker(server):
    start_unprobed(server, "-w", "1", "--max-requests", "5", "--max-requests-jitter", "0")
    pids = [get_pid(server) for _ in range(5)]
    assert len(set(pids)) == 1, pids
    sixth = get_pid(server)
    assert sixth != pids[0]
    wait_for(lambda: server.log_has("Autorestarting worker"), what="autorestart logged")
    assert [get_pid(server) for _ in range(4)] == [sixth] * 4


def test_max_requests_last_response_says_close(server):
    start_unprobed(server, "-w", "1", "--max-requests", "5", "--max-requests-jitter", "0")
    conn = server.connection()
    try:
        closes = []
        for _ in range(5):
            conn.request("GET", "/pid")
            resp = conn.getresponse()
            resp.read()
            closes.append((resp.getheader("Connection") or "").lower() == "close")
        # The worker knows before it answers that the fifth request is its last one: saying
        # so spares the client a request on a connection that is about to close.
        assert closes == [False] * 4 + [True], closes
    finally:
        conn.close()


# -- apps that cannot load -------------------------------------------------------------------

def run_to_exit(server, *args, app, env=None, workers=2, timeout=10):
    t0 = time.monotonic()
    server.start("-w", str(workers), *args, app=app, wait=False, env=env)
    code = server.wait_exit(timeout=timeout + 20)
    took = time.monotonic() - t0
    print(f"{app} {' '.join(args)}: exit {code} after {took:.2f}s")
    # A hang guard (the master must not keep respawning workers that cannot load), not a
    # measurement: the exit code and the log are the checks.
    assert took < timeout, f"took {took:.1f}s"
    return code, server.log() + open(os.path.join(server.tmpdir, "stdout.log")).read()


def build_test_app(name, out_dir, prefix):
    """Compiles tests/integration/apps/NAME.c against the installed header into OUT/NAME.so."""
    cc = shutil.which("gcc") or shutil.which("g++")
    lang = ["-x", "c"] if cc.endswith("g++") else []
    subprocess.run([cc, *lang, "-shared", "-fPIC", "-I", os.path.join(prefix, "include"),
                    "-o", os.path.join(out_dir, f"{name}.so"),
                    os.path.join(HERE, "apps", f"{name}.c")], check=True)
    os.chmod(out_dir, 0o755)
    return str(out_dir)


@pytest.fixture(scope="module")
def abi99_dir(tmp_path_factory, prefix):
    return build_test_app("abi99", tmp_path_factory.mktemp("abi99"), prefix)


@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_missing_module_exits_4(server, preload):
    args = ["--preload"] if preload else []
    code, log = run_to_exit(server, *args, app="nosuch:app")
    assert code == 4, log
    assert "App failed to load" in log
    assert "cannot load app 'nosuch:app': module not found" in log
    booted = log.count("Booting worker")
    assert booted == 0 if preload else 1 <= booted <= 2, log


@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_missing_symbol_exits_4(server, preload):
    args = ["--preload"] if preload else []
    code, log = run_to_exit(server, *args, app="hello:nosuch")
    assert code == 4, log
    assert "App failed to load" in log
    assert "no symbol 'nosuch'" in log
    booted = log.count("Booting worker")
    assert booted == 0 if preload else 1 <= booted <= 2, log


@pytest.mark.parametrize("symbol", ["app", "small", "nohandle"])
@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_abi_mismatch_exits_4(server, abi99_dir, preload, symbol):
    """cppicorn-app(3): an unknown ABI version, a size that ends before `handle`, or a NULL
    handle is refused with exit 4."""
    args = ["--app-path", abi99_dir] + (["--preload"] if preload else [])
    code, log = run_to_exit(server, *args, app=f"abi99:{symbol}")
    assert code == 4, log
    assert "App failed to load" in log
    m = re.search(r"ABI mismatch .*app: version (\d+) size (\d+); server: version (\d+) "
                  r"size (\d+)", log)
    assert m, log
    app_version, app_size, version, size = map(int, m.groups())
    if symbol == "app":
        assert app_version == 99
    elif symbol == "small":
        assert (app_version, app_size < size) == (version, True)
    else:  # the right version and size: refused for its NULL handle
        assert (app_version, app_size) == (version, size)
    booted = log.count("Booting worker")
    assert booted == 0 if preload else 1 <= booted <= 2, log


def test_worker_start_failure_exits_4(server):
    code, log = run_to_exit(server, app="diag:app", env={"DIAG_FAIL_START": "1"})
    assert code == 4, log
    assert "worker_start hook failed" in log
    assert 1 <= log.count("Booting worker") <= 2, log


# -- pidfile, process titles, --user ---------------------------------------------------------

def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def test_pidfile_written_and_removed(server, tmp_path):
    pidfile = str(tmp_path / "cppicorn.pid")
    server.start("-w", "1", "-p", pidfile)
    with open(pidfile) as f:
        assert int(f.read().strip()) == server.proc.pid
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert not os.path.exists(pidfile)


def test_process_titles(server):
    server.start("-w", "2")
    assert cmdline(server.proc.pid).startswith("cppicorn: master [hello:app]"), \
        cmdline(server.proc.pid)
    # A worker starts with the master's title (fork copies it) and sets its own at once.
    for pid in server.wait_workers(2):
        wait_for(lambda: cmdline(pid).startswith("cppicorn: worker [hello:app]"), 10,
                 what=f"worker {pid}'s title")
        assert cmdline(pid).startswith("cppicorn: worker [hello:app]"), cmdline(pid)


def ids_of(pid, field):
    """The real, effective, saved and filesystem ids from /proc/PID/status ("Uid:"/"Gid:")."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {field} line")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_workers_run_as_nobody(server):
    import grp
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid
    server.start("-w", "2", "-u", "nobody", "-g", "nogroup", app="diag:app")
    pids = server.wait_workers(2)
    # A worker drops privileges right after fork: wait until both have, then check it all.
    wait_for(lambda: all(ids_of(p, "Uid:") == [nobody] * 4 for p in pids), 10,
             what="workers running as nobody")
    for pid in pids:
        assert ids_of(pid, "Uid:") == [nobody] * 4
        assert ids_of(pid, "Gid:") == [nogroup] * 4
    assert ids_of(server.proc.pid, "Uid:")[0] == 0
    assert get_pid(server) in pids
    assert server.request("GET", "/started")[2] == b"1\n"


def test_preload_serves_and_runs_worker_start_per_worker(server):
    server.start("-w", "2", "--preload", app="diag:app")
    pids = server.wait_workers(2)
    seen = set()
    for _ in range(20):
        seen.add(get_pid(server))
        assert server.request("GET", "/started")[2] == b"1\n"
    assert seen <= pids and server.proc.pid not in seen


def test_proc_name_in_titles(server):
    server.start("-w", "1", "-n", "shop")
    assert cmdline(server.proc.pid).startswith("cppicorn: master [shop]")
    (worker,) = server.wait_workers(1)
    assert cmdline(worker).startswith("cppicorn: worker [shop]")


def test_workers_die_with_a_killed_master(server):
    """A master killed outright (SIGKILL: no handler runs) must not leave orphan workers
    serving outside any control: each worker asked the kernel for a signal on its death."""
    server.start("-w", "2", app="diag:app")
    pids = server.wait_workers(2)
    server.proc.kill()
    server.proc.wait(timeout=10)
    wait_for(lambda: all(exited(p) for p in pids), 10, what="the workers to exit")


SLOW_BOOT_APP = '''
import atexit, os, time
log = os.environ["SLOWBOOT_LOG"]
with open(log, "a") as f:
    f.write(f"booting {os.getpid()}\\n")
deadline = time.monotonic() + 30
while not os.path.exists(os.environ["SLOWBOOT_BARRIER"]) and time.monotonic() < deadline:
    time.sleep(0.01)
atexit.register(lambda: open(log, "a").write(f"stopped {os.getpid()}\\n"))

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"booted\\n"]
'''


def term_pending_or_gone(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except FileNotFoundError:
        return True
    if fields.get("State", "").split()[0] == "Z":
        return True
    return bool(int(fields["ShdPnd"], 16) & (1 << (signal.SIGTERM - 1)))


def test_term_while_the_app_boots_stops_the_worker_gracefully(server, tmp_path):
    """A TERM that arrives while a worker is still loading its app waits for the worker's
    handlers instead of killing it mid-boot: the app finishes loading, the worker stops
    gracefully, and the app's own shutdown (here Python's atexit) runs."""
    (tmp_path / "slowboot.py").write_text(SLOW_BOOT_APP)
    log, barrier = tmp_path / "boot.log", tmp_path / "barrier"
    server.start("-w", "1", "--graceful-timeout", "10", "--app-path", str(tmp_path),
                 app="slowboot:app", wait=False,
                 env={"SLOWBOOT_LOG": str(log), "SLOWBOOT_BARRIER": str(barrier)})
    line = wait_for(lambda: log.exists() and log.read_text(), what="the app loading")
    pid = int(line.split()[1])
    server.signal(signal.SIGTERM)
    # The master passes TERM on; the worker (still importing) holds it pending, or, were it
    # not blocked, is already dead. Only then may the import finish.
    wait_for(lambda: term_pending_or_gone(pid), what="the worker's TERM")
    barrier.touch()
    assert server.wait_exit() == 0
    assert log.read_text().splitlines() == [f"booting {pid}", f"stopped {pid}"], server.log()
