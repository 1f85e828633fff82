"""Threads per worker (gthread) through the installed binary: calls in flight at once (proven
with barriers the calls wait on, never with timing), admission with slow and idle clients,
per-thread timeouts, thread hooks and the thread-safety flag, graceful stops under load,
fairness among keep-alive clients, and WSGI apps on threads."""
import http.client
import os
import re
import signal
import socket
import threading

import pytest

from conftest import LoadClient, RawReader, wait_for
from test_lifecycle import build_test_app, run_to_exit
from test_upgrade import NEXT, replace_binary, report, run_load, upgradable  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def concurrent_gets(port, path, count, timeout=30):
    """Sends `count` GETs at once, each on its own connection; returns [(status, body)]."""
    results = [None] * count
    go = threading.Barrier(count)

    def one(i):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            go.wait()
            conn.request("GET", path)
            resp = conn.getresponse()
            results[i] = (resp.status, resp.read())
            conn.close()
        except Exception as e:  # noqa: BLE001
            results[i] = (0, repr(e).encode())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    return results


def threads_in(pid, syscall_names=("nanosleep", "clock_nanosleep")):
    """How many of the worker's pool threads (named cppicorn-tN) sit in one of these syscalls
    (x86-64 numbers 35, 230), from /proc/PID/task/*/syscall."""
    numbers = {"nanosleep": "35", "clock_nanosleep": "230"}
    wanted = {numbers[n] for n in syscall_names}
    count = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith("cppicorn-t"):
                    continue  # not a pool thread (a sanitizer's own thread sleeps too)
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                if f.read().split()[0] in wanted:
                    count += 1
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            pass
    return count


# -- calls in flight at once --------------------------------------------------------------------

def test_n_calls_meet_at_a_barrier_with_n_threads(server):
    server.start("-w", "1", "--threads", "4", app="diag:app")
    assert server.log_has("Using worker: gthread with 4 threads")
    results = concurrent_gets(server.port, "/barrier?n=4", 4)
    assert results == [(200, b"released\n")] * 4


def test_sync_worker_cannot_pass_the_barrier(server):
    # The control: one call at a time, so no two calls ever meet (each gives up at 300 ms).
    server.start("-w", "1", app="diag:app")
    assert server.log_has("Using worker: sync")
    results = concurrent_gets(server.port, "/barrier?n=2&ms=300", 2)
    assert results == [(503, b"barrier timeout\n")] * 2


def test_sync_class_with_threads_runs_gthread(server):
    server.start("-w", "1", "-k", "sync", "--threads", "3", app="diag:app")
    assert server.log_has("Using worker: gthread with 3 threads")
    assert concurrent_gets(server.port, "/barrier?n=3", 3) == [(200, b"released\n")] * 3


def test_slow_and_idle_clients_hold_no_thread(server):
    server.start("-w", "1", "--threads", "3", "--header-timeout", "30", "--keep-alive", "30",
                 app="diag:app")
    held = []
    try:
        for _ in range(4):  # slowloris: a head that never ends
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(s)
        for _ in range(4):  # idle keep-alive: one request answered, then silence
            conn = server.connection()
            conn.request("GET", "/hello")
            assert conn.getresponse().read() == b"Hello, World!\n"
            held.append(conn)
        results = concurrent_gets(server.port, "/barrier?n=3", 3)
        assert results == [(200, b"released\n")] * 3
    finally:
        for h in held:
            h.close()


def accept_queue(port):
    """Connections waiting in the accept queue of our 127.0.0.1:port listener (the rx_queue
    of a LISTEN socket in /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    return -1


def test_new_connections_wait_while_every_thread_is_busy(server):
    # Both threads busy: the worker must leave a new connection in the accept queue (for a
    # sibling, gunicorn #908) instead of taking it into a queue no thread can serve.
    server.start("-w", "1", "--threads", "2", app="diag:app")
    (worker,) = server.wait_workers(1)
    results = [None] * 3

    def one(i, path):
        results[i] = server.request("GET", path, timeout=30)[::2]

    busy = [threading.Thread(target=one, args=(i, "/sleep?ms=4000")) for i in range(2)]
    for t in busy:
        t.start()
    wait_for(lambda: threads_in(worker) == 2, what="both threads in the app")
    late = threading.Thread(target=one, args=(2, "/hello"))
    late.start()
    wait_for(lambda: accept_queue(server.port) == 1, what="the new connection left unaccepted")
    for t in busy + [late]:
        t.join(30)
    assert results == [(200, b"slept 4000\n")] * 2 + [(200, b"Hello, World!\n")]
    assert accept_queue(server.port) == 0


# -- timeouts, hooks, the thread-safety flag ------------------------------------------------------

def test_stuck_call_kills_its_worker_and_is_named(server):
    server.start("-w", "1", "--threads", "4", "-t", "2", app="diag:app")
    (worker,) = server.wait_workers(1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        # The loop stays responsive meanwhile: other threads answer.
        assert server.request("GET", "/hello")[0] == 200
        line = wait_for(lambda: re.search(r"WORKER TIMEOUT \(pid:(\d+)\).*", server.log()),
                        timeout=20, what="the timeout logged")
        assert int(line.group(1)) == worker
        assert 'serving "GET /sleep?ms=60000 HTTP/1.1"' in line.group(0)
        assert s.recv(100) == b""  # the stuck request's client sees the connection close
    wait_for(lambda: (lambda w: len(w) == 1 and worker not in w)(server.workers()),
             what="a replacement worker")
    assert server.request("GET", "/hello")[0] == 200


def test_thread_hooks_run_on_every_thread_and_join_before_worker_stop(server, tmp_path):
    stops = tmp_path / "stops"
    server.start("-w", "1", "--threads", "3", app="diag:app",
                 env={"DIAG_STOP_FILE": str(stops)})
    (worker,) = server.wait_workers(1)
    assert server.request("GET", "/threads")[2] == b"3\n"
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    lines = stops.read_text().splitlines()
    assert lines == [f"thread-stop {worker}"] * 3 + [f"stop {worker}"]


def test_failing_thread_start_exits_4(server):
    code, log = run_to_exit(server, "--threads", "2", app="diag:app",
                            env={"DIAG_FAIL_THREAD": "1"})
    assert code == 4, log
    assert "DIAG_FAIL_THREAD=1" in log


@pytest.fixture(scope="module")
def unsafe_dir(tmp_path_factory, prefix):
    return build_test_app("unsafe", tmp_path_factory.mktemp("unsafe"), prefix)


def test_app_without_thread_safe_flag_is_refused_with_threads(server, unsafe_dir):
    code, log = run_to_exit(server, "--app-path", unsafe_dir, "--threads", "4",
                            app="unsafe:app")
    assert code == 4, log
    assert "cannot run app 'unsafe:app' with threads: 4" in log
    assert "CPPICORN_APP_THREAD_SAFE" in log


def test_app_built_against_the_old_header_still_runs_sync(server, unsafe_dir):
    server.start("-w", "1", "--app-path", unsafe_dir, app="unsafe:app")
    assert server.request("GET", "/")[2] == b"unsafe\n"


@pytest.mark.parametrize("value", ["gevent", "nonsense"])
def test_unsupported_worker_classes_are_refused(server, value):
    code, log = run_to_exit(server, "-k", value, app="diag:app")
    assert code != 0
    expected = {"gevent": "use gthread", "nonsense": "unknown worker class 'nonsense'"}[value]
    assert expected in log, log


# -- lifecycle under load -------------------------------------------------------------------------

def test_term_lets_calls_on_every_thread_finish(server):
    server.start("-w", "1", "--threads", "4", app="diag:app")
    (worker,) = server.wait_workers(1)
    results = [None] * 4

    def one(i):
        results[i] = server.request("GET", "/sleep?ms=4000", timeout=30)[::2]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: threads_in(worker) == 4, what="four calls sleeping in the app")
    server.signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert results == [(200, b"slept 4000\n")] * 4
    assert server.wait_exit() == 0


def test_quit_is_immediate_with_calls_in_flight(server):
    server.start("-w", "1", "--threads", "2", app="diag:app")
    (worker,) = server.wait_workers(1)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: threads_in(worker) == 1, what="the call sleeping")
    server.signal(signal.SIGQUIT)
    assert server.wait_exit(timeout=10) == 0
    assert s.recv(100) == b""
    s.close()


def write_config(path, workers):
    with open(path, "w") as f:
        f.write(f"workers: {workers}\nthreads: 4\ngraceful_timeout: 10\n")


@pytest.mark.parametrize("keepalive", [False, True], ids=["close", "keepalive"])
def test_hup_under_load_fails_nothing(server, tmp_path, keepalive):
    cfg = str(tmp_path / "cppicorn.yaml")
    write_config(cfg, 2)
    server.start("-c", cfg, app="diag:app")
    old = server.wait_workers(2)
    with LoadClient(server.port, "/sleep?ms=5", threads=8, keepalive=keepalive) as load:
        wait_for(lambda: load.ok >= 50, what="load flowing")
        write_config(cfg, 3)
        server.signal(signal.SIGHUP)
        wait_for(lambda: (lambda w: len(w) == 3 and not (w & old) and w)(server.workers()),
                 timeout=20, what="3 new workers and no old one")
        after = load.ok
        wait_for(lambda: load.ok >= after + 50, what="load served by the new generation")
    print(f"HUP with threads: ok={load.ok} retried={load.retried} failed={load.failed[:5]}")
    assert load.failed == []


def test_term_under_load_answers_every_request(server):
    # Keep-alive clients, each sending its next request as soon as it has the last answer and
    # never reconnecting: after TERM every request in flight or queued on an open connection
    # is answered, the last one with "Connection: close"; none fails.
    server.start("-w", "2", "--threads", "3", app="diag:app")
    clients, answered, errors = 8, [0] * 8, []
    going = threading.Barrier(clients + 1)

    def run(i):
        conn = server.connection(timeout=30)
        try:
            while True:
                conn.request("GET", "/sleep?ms=5")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
                answered[i] += 1
                if answered[i] == 5:
                    going.wait()
                if resp.will_close:
                    return
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    going.wait(30)  # every client is going
    server.signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert server.wait_exit() == 0
    print(f"TERM with threads: answered {answered}")
    assert errors == []
    assert min(answered) >= 5


def test_max_requests_counts_every_thread(server, tmp_path):
    server.start("-w", "1", "--threads", "4", "--max-requests", "40", app="diag:app")
    (first,) = server.wait_workers(1)
    with LoadClient(server.port, "/sleep?ms=2", threads=6, keepalive=True) as load:
        wait_for(lambda: first not in server.workers() and load.ok > 100, timeout=30,
                 what="the worker recycled and load going on")
    assert load.failed == [], load.failed[:5]
    wait_for(lambda: server.log_has("Autorestarting worker"), what="recycling logged")


# -- fairness -------------------------------------------------------------------------------------

def fair_share(server, path, clients, total):
    """K keep-alive clients, each sending its next request as soon as it has the answer to
    the last, until `total` responses came back; returns the count each client got."""
    counts = [0] * clients
    lock = threading.Lock()
    done = threading.Event()
    errors = []

    def run(i):
        conn = server.connection(timeout=30)
        try:
            while not done.is_set():
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
                with lock:
                    counts[i] += 1
                    if sum(counts) >= total:
                        done.set()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
            done.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    return counts


@pytest.mark.parametrize("threads", [1, 3])
def test_keepalive_clients_each_get_their_share(server, threads):
    clients = 8
    server.start("-w", "1", "--threads", str(threads), "--keep-alive", "30", app="diag:app")
    counts = fair_share(server, "/sleep?ms=5", clients, 240)
    print(f"threads={threads}: responses per client {counts}")
    # A fair worker gives each about 240/8 = 30; before fairness, sync gave some 17.
    assert min(counts) >= 240 // clients * 2 // 3, counts


def test_saturated_sync_worker_admits_waiting_clients_as_it_serves(server):
    """Clients queued in the listen backlog of a saturated sync worker are admitted one per
    request served, not one per turn of the loop (a turn serves every ready connection): 8
    newcomers are all answered while the 8 busy keep-alive clients make a few requests each,
    not one newcomer per round of theirs."""
    server.start("-w", "1", "--keep-alive", "30", app="diag:app")
    counts, errors, done = [0] * 8, [], threading.Event()
    lock = threading.Lock()

    def busy(i):
        conn = server.connection(timeout=30)
        try:
            while not done.is_set():
                conn.request("GET", "/sleep?ms=20")
                resp = conn.getresponse()
                resp.read()
                with lock:
                    counts[i] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=busy, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: min(counts) >= 3, what="the busy clients served in rounds")
        newcomers = [socket.create_connection(("127.0.0.1", server.port), timeout=30)
                     for _ in range(8)]
        with lock:
            before = list(counts)
        for s in newcomers:
            s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in newcomers:
            assert RawReader(s).read_response().status == 200
            s.close()
        with lock:
            rounds = max(c - b for c, b in zip(counts, before))
    finally:
        done.set()
        for t in threads:
            t.join(30)
    assert errors == []
    # One newcomer per round would take 8 rounds; one per call, about one.
    assert rounds <= 4, f"the busy clients made up to {rounds} requests meanwhile"


def test_sync_workers_even_out_keepalive_clients(server):
    """Keep-alive clients that all landed on one sync worker spread to its idle sibling: a
    worker holding more than its share while requests wait lets clients go (Connection:
    close), and they reconnect through the shared listen queue."""
    server.start("-w", "2", "--keep-alive", "30", app="diag:app")
    a, b = sorted(server.wait_workers(2))
    os.kill(b, signal.SIGSTOP)  # every client connects while b cannot accept: all land on a
    try:
        conns = [server.connection(timeout=30) for _ in range(12)]
        for c in conns:
            c.request("GET", "/pid")
            assert c.getresponse().read().strip() == str(a).encode()
    finally:
        os.kill(b, signal.SIGCONT)
    seen, errors, done = set(), [], threading.Event()

    def load(conn):
        try:
            while not done.is_set():
                for path in ("/sleep?ms=20", "/pid"):
                    conn.request("GET", path)  # reconnects by itself after a close
                    resp = conn.getresponse()
                    body = resp.read()
                    assert resp.status == 200, resp.status
                    if path == "/pid":
                        seen.add(int(body))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=load, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: b in seen or errors, 30, what="a client moved to the idle worker")
    finally:
        done.set()
        for t in threads:
            t.join(30)
    assert errors == [] and seen == {a, b}, (errors, seen)


# -- WSGI on threads ------------------------------------------------------------------------------

def test_wsgi_calls_meet_at_a_barrier_on_named_threads(server):
    server.start("-w", "1", "--threads", "4", "--app-path", APPS, app="threaded:app", env=ENV)
    results = concurrent_gets(server.port, "/barrier?n=4", 4)
    assert [r[0] for r in results] == [200] * 4, results
    names = sorted(r[1].decode() for r in results)
    assert names == [f"cppicorn-thread-{i}" for i in range(1, 5)], names
    status, _, body = server.request("GET", "/multithread")
    assert (status, body) == (200, b"True")


def test_wsgi_sync_worker_is_not_multithread(server):
    server.start("-w", "1", "--app-path", APPS, app="threaded:app", env=ENV)
    assert server.request("GET", "/multithread")[::2] == (200, b"False")


def test_wsgi_body_reads_release_the_gil(server):
    # One call waits for a body that trickles in; the other threads must go on serving.
    server.start("-w", "1", "--threads", "3", "--app-path", APPS, app="threaded:app", env=ENV)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                  b"x" * 70000)
        results = concurrent_gets(server.port, "/barrier?n=2", 2)
        assert [r[0] for r in results] == [200, 200], results
        s.sendall(b"y" * 30000)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 6:
            data += s.recv(65536)
        assert data.startswith(b"HTTP/1.1 200")
        assert b"Content-Length: 6\r\n" in data and data.endswith(b"100000")


def test_flask_app_on_threads(server):
    server.start("-w", "1", "--threads", "4", "--app-path", APPS, app="flaskapp:app", env=ENV)
    results = concurrent_gets(server.port, "/", 16)
    assert results == [(200, b"Hello from Flask")] * 16


@pytest.mark.parametrize("threads", [1, 2])
def test_pipelined_requests_wait_behind_other_clients(server, threads):
    # One client pipelines 40 requests at once; another sends one. The second must not wait
    # for all 40: each pipelined request goes back in line behind those ready before it.
    server.start("-w", "1", "--threads", str(threads), app="diag:app")
    hog = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    got = [0]
    # Each pipelined request waits 10 ms in the app, so the other client's request is ready
    # while most of the hog's are still to be served.
    hog.sendall(b"GET /sleep?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n" * 40)

    def read_hog():
        reader = RawReader(hog)
        for _ in range(40):
            assert reader.read_response().status == 200
            got[0] += 1

    t = threading.Thread(target=read_hog)
    t.start()
    wait_for(lambda: got[0] >= 1, what="the hog being served")
    status, _, body = server.request("GET", "/hello", timeout=30)
    served_before = got[0]
    t.join(60)
    hog.close()
    assert (status, body) == (200, b"Hello, World!\n")
    assert got[0] == 40
    print(f"threads={threads}: the other client was answered after {served_before} of 40")
    assert served_before < 20


def test_django_app_on_threads(server):
    pytest.importorskip("django")
    server.start("-w", "1", "--threads", "4", "--app-path", APPS, app="djangoapp:app", env=ENV)
    assert concurrent_gets(server.port, "/", 16) == [(200, b"Hello from Django")] * 16
    names = {body for _, body in concurrent_gets(server.port, "/thread", 8)}
    assert names <= {f"cppicorn-thread-{i}".encode() for i in range(1, 5)}, names


def test_usr2_upgrade_under_load_with_threads(upgradable):
    s = upgradable
    s.start("-w", "2", "--threads", "4", "-p", s.pidfile, app="diag:app")

    def upgrade():
        replace_binary(s.binary, source=NEXT)
        s.signal(signal.SIGUSR2)
        assert s.wait_exit(30) == 0  # the old master's workers drained their threads
    keep, fresh = run_load(s.port, 2, upgrade, path="/sleep?ms=2")
    report("USR2 upgrade with threads", keep, fresh)
