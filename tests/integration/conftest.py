"""Integration-test harness: the installed cppicorn binary, real sockets, real clients.

The session installs the build tree (CPPICORN_BUILD, default ../../build) into a staging
prefix with `cmake --install`, so every test runs what a user would run. `server` starts one
master per test on a free port and stops it afterwards; waits poll a condition against a
deadline instead of sleeping.
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CPPICORN_BUILD", os.path.join(ROOT, "build"))


def exited(pid):
    """The process is gone or a zombie (for processes that are not our children, whose exit
    we cannot wait for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def in_sleep(pid):
    """True while the process sits in a sleep syscall (the app's /sleep): /proc/PID/syscall
    starts with the syscall number (35 nanosleep, 230 clock_nanosleep on x86-64)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            first = f.read().split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return False
    if first in ("35", "230"):
        return True
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "nanosleep" in f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False


def recv_to_eof(sock):
    """Everything the peer sends until it closes (a plain or an ssl socket)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefix():
    """The build installed into a staging prefix: bin/cppicorn, lib/cppicorn/examples.

    CPPICORN_PREFIX=DIR tests an existing installation (a package, a previous install)
    instead, and leaves it alone."""
    if os.environ.get("CPPICORN_PREFIX"):
        yield os.environ["CPPICORN_PREFIX"]
        return
    dest = tempfile.mkdtemp(prefix="cppicorn-install-")
    subprocess.run(["cmake", "--install", BUILD, "--prefix", dest], check=True,
                   stdout=subprocess.DEVNULL)
    # mkdtemp makes the prefix 0700: workers running as --user must still reach the apps.
    os.chmod(dest, 0o755)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


@pytest.fixture(scope="session")
def binary(prefix):
    return os.path.join(prefix, "bin", "cppicorn")


@pytest.fixture(scope="session")
def examples(prefix):
    libdirs = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
               if os.path.isdir(os.path.join(prefix, d, "cppicorn", "examples"))]
    assert libdirs, "examples not installed"
    return os.path.join(prefix, libdirs[0], "cppicorn", "examples")


class Server:
    """One cppicorn master started by a test."""

    def __init__(self, binary, examples, tmpdir):
        self.binary = binary
        self.examples = examples
        self.tmpdir = tmpdir
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(tmpdir, "error.log")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, *args, app="hello:app", bind=True, wait=True, env=None, cwd=None,
              fds=None, split_stderr=False):
        """Starts the master. fds maps a descriptor number in the child to one of ours
        ({3: sock.fileno()} hands over a listening socket as fd 3). Its stdout and stderr go
        to tmpdir/stdout.log, or with split_stderr stderr to tmpdir/stderr.log apart."""
        # A master still running would keep answering on the port, so a second start()
        # would test the first server's settings: stop() it first.
        assert self.proc is None or self.proc.poll() is not None, \
            "start() while the previous master runs: stop() it first"
        cmd = [self.binary]
        if bind:
            cmd += ["-b", f"127.0.0.1:{self.port}"]
        cmd += ["--chdir", self.examples, "--error-logfile", self.log_path, *args]
        if app:
            cmd.append(app)
        full_env = dict(os.environ)
        full_env.pop("CPPICORN_CMD_ARGS", None)
        full_env.pop("WEB_CONCURRENCY", None)
        full_env.update(env or {})
        self.output = open(os.path.join(self.tmpdir, "stdout.log"), "wb")
        extra = {}
        if fds:
            def hand_over():
                for target, source in fds.items():
                    os.dup2(source, target, inheritable=True)
            extra = {"preexec_fn": hand_over, "close_fds": False}
        err = (open(os.path.join(self.tmpdir, "stderr.log"), "wb") if split_stderr
               else subprocess.STDOUT)
        self.proc = subprocess.Popen(cmd, stdout=self.output, stderr=err,
                                     env=full_env, cwd=cwd or self.tmpdir, **extra)
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self, timeout=10):
        wait_for(lambda: self.proc.poll() is not None or self.log_has("Booting worker"),
                 timeout, what="first worker")
        assert self.proc.poll() is None, f"server exited: {self.log()}"
        wait_for(self.accepts, timeout, what="server answering")

    def accepts(self):
        try:
            status, _, _ = self.request("GET", "/", timeout=2)
            return status > 0
        except OSError:
            return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=20):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in getattr(self, "_known_workers", set()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- observation -----------------------------------------------------------------------
    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_has(self, text):
        return text in self.log()

    def workers(self):
        """Pids of the master's live worker processes."""
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pids = {int(p) for p in f.read().split()}
        except (FileNotFoundError, ProcessLookupError):
            return set()
        alive = set()
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().split(")")[-1].split()[0] != "Z":
                        alive.add(p)
            except (FileNotFoundError, ProcessLookupError):
                pass  # exited (and was reaped) between listing and reading: not alive
        self._known_workers = getattr(self, "_known_workers", set()) | alive
        return alive

    def wait_workers(self, count, timeout=10):
        return wait_for(lambda: len(self.workers()) == count and self.workers(), timeout,
                        what=f"{count} workers")

    # -- clients ---------------------------------------------------------------------------
    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def raw(self, data, timeout=5):
        """Sends raw bytes, returns everything received until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)


class RawResponse:
    def __init__(self, status_line, headers, body):
        self.status_line, self.headers, self.body = status_line, headers, body
        self.status = int(status_line.split()[1])

    def header(self, name, default=None):
        """The last value of a header, case-insensitive."""
        found = default
        for k, v in self.headers:
            if k.lower() == name.lower():
                found = v
        return found

    def names(self):
        return [k.lower() for k, _ in self.headers]


class RawReader:
    """Reads HTTP/1.x responses from a socket byte-exactly (for pipelining, 1xx, framing)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            self.closed = True
            raise EOFError("connection closed")
        self.buf += b

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        return lines[0], headers

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_to_close(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_response(self, method="GET"):
        """One final response (1xx are returned too: call again for the final one)."""
        status_line, headers = self.read_head()
        r = RawResponse(status_line, headers, b"")
        if method == "HEAD" or r.status < 200 or r.status in (204, 304):
            return r
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if te is not None:
            assert te.lower() == "chunked", te
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line() != b"":
                        pass
                    break
                body += self.read_exact(size)
                assert self.read_line() == b""
            r.body = body
        elif cl is not None:
            r.body = self.read_exact(int(cl))
        else:
            r.body = self.read_to_close()
        return r

    def at_eof(self, timeout=5):
        """True when the server closes the connection (nothing more arrives) within timeout."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def _tcp_table():
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            yield (int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16), parts[3],
                   int(parts[4].split(":")[1], 16))


def tcp_rx_queue(server_port, client_port):
    """Bytes the server side of the connection from client_port has not read yet
    (/proc/net/tcp rx_queue), or None while there is no such connection. 0 after a send
    means the server's process has read all of it: a readiness condition, not a sleep."""
    for local, remote, state, rx in _tcp_table():
        if local == server_port and remote == client_port and state != "0A":
            return rx
    return None


def accept_queue(port):
    """Connections waiting in the accept queue of the IPv4 listener on port (rx_queue of a
    LISTEN socket), or None if nothing listens there."""
    for local, _, state, rx in _tcp_table():
        if local == port and state == "0A":
            return rx
    return None


@pytest.fixture
def server(binary, examples, tmp_path):
    s = Server(binary, examples, str(tmp_path))
    yield s
    s.stop()


class LoadClient:
    """Keeps sending requests from a few threads until stopped; counts every outcome.

    Each thread uses keep-alive connections and opens a new one after the server closes
    one, as a real client pool does. A request fails on any exception, a non-2xx status or
    a connection reset/closed under it, with one exception, the race HTTP/1.1 allows
    (RFC 9112 9.3.1): the server closed an idle keep-alive connection just as the client
    REUSED it, and nothing of the response arrived. That request is retried once on a new
    connection and counted in `reused_conn_closed` (bounded by check()). A connection
    opened for the request that is reset or closed is a failure, as is a retry that fails
    or a connection cut while the response was being read. With keepalive=False every
    request is on a fresh connection, so nothing is ever retried.

    `failed` lists what went wrong; `retried` is the old name of `reused_conn_closed`.
    """

    RACE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

    def __init__(self, port, path="/", threads=4, keepalive=True, host="127.0.0.1"):
        self.port, self.path, self.keepalive, self.host = port, path, keepalive, host
        self.threads = threads
        self.ok = 0
        self.reused_conn_closed = 0  # idle keep-alive connections closed as they were reused
        self.failed = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    @property
    def retried(self):
        return self.reused_conn_closed

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def summary(self):
        return (f"ok={self.ok} reused_conn_closed={self.reused_conn_closed} "
                f"failed={len(self.failed)} {self.failed[:5]}")

    def check(self, max_reused_closed=None):
        """Asserts that no request failed and that at most max_reused_closed requests met a
        reused connection closed under them (default: one per thread, i.e. each thread's
        connection closed once by the server: a reload or an upgrade); prints the counts."""
        bound = self.threads if max_reused_closed is None else max_reused_closed
        print(f"\nload (keepalive={self.keepalive}): {self.summary()}")
        assert self.failed == [], self.failed[:5]
        assert self.reused_conn_closed <= bound, \
            f"{self.reused_conn_closed} reused keep-alive connections closed (bound {bound})"

    def _record(self, status, note=""):
        with self._lock:
            if 200 <= status < 300:
                self.ok += 1
            else:
                self.failed.append(f"status {status}{note}")

    def _fail(self, what):
        with self._lock:
            self.failed.append(what)

    def _run(self):
        conn, used = None, 0  # used: responses completed on conn
        headers = {} if self.keepalive else {"Connection": "close"}
        while not self._stop.is_set():
            if conn is None:
                conn, used = http.client.HTTPConnection(self.host, self.port, timeout=10), 0
            try:
                conn.request("GET", self.path, headers=headers)
                resp = conn.getresponse()
            except self.RACE as e:
                conn.close()
                conn = None
                if used == 0:
                    self._fail(f"new connection: {e!r}")
                    continue
                with self._lock:
                    self.reused_conn_closed += 1
                conn = self._retry(headers, e)
                used = 1 if conn is not None else 0
                continue
            except Exception as e:  # noqa: BLE001
                self._fail(repr(e))
                conn.close()
                conn = None
                continue
            try:
                resp.read()
            except Exception as e:  # noqa: BLE001  (cut while reading: always a failure)
                self._fail(f"reading the response: {e!r}")
                conn.close()
                conn = None
                continue
            used += 1
            self._record(resp.status)
            if resp.will_close:
                conn.close()
                conn = None

    def _retry(self, headers, first):
        """The request again on a new connection; returns that connection to keep using it,
        or None (its failure is counted)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            c.request("GET", self.path, headers=headers)
            r = c.getresponse()
            r.read()
        except Exception as e:  # noqa: BLE001
            self._fail(f"retry after {first!r}: {e!r}")
            c.close()
            return None
        self._record(r.status, f" on the retry after {first!r}")
        if r.will_close:
            c.close()
            return None
        return c


def exchange(server, data, method="GET", count=1, expect_close=False, timeout=10):
    """Sends raw bytes, reads `count` responses; with expect_close, checks that the server
    then closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        r = RawReader(s)
        got = [r.read_response(method) for _ in range(count)]
        if expect_close:
            assert r.at_eof(), "the server must close the connection"
        return got[0] if count == 1 else got


@pytest.fixture
def load_client():
    return LoadClient
