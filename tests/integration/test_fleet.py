"""A fleet behind an existing load balancer: three hosts, each a network namespace of its own
running the installed cppicorn, with Debian's HAProxy in front health-checking each host's
/health/ready. Under load through HAProxy, a USR2 upgrade and then a restart (TERM, start)
roll through every host, one after another, as a deploy tool would: no request may fail.

Each host is joined to the test's namespace by a veth pair (10.231.N.1 here, 10.231.N.2
there); traffic never leaves the machine. HAProxy's own counters, read from its stats socket,
show that every host served and that its health check took each restarted host out.
"""
import csv
import io
import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import LoadClient, free_port, wait_for
from test_upgrade import NEXT, pid_alive, read_pid, replace_binary

HOSTS = 3
HTTP_PORT, METRICS_PORT = 8000, 9100

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Host:
    """One machine of the fleet: a network namespace with its own copy of the binary, a
    pidfile and logs; start() runs a master there, as systemd would on a real host."""

    def __init__(self, index, binary, examples, workdir):
        self.index = index
        self.ns = f"cppf{os.getpid() % 100000}-{index}"
        self.addr = f"10.231.{index}.2"
        self.examples = examples
        self.dir = os.path.join(workdir, f"host{index}")
        os.makedirs(os.path.join(self.dir, "bin"))
        self.binary = os.path.join(self.dir, "bin", "cppicorn")
        shutil.copy(binary, self.binary)
        self.pidfile = os.path.join(self.dir, "cppicorn.pid")
        self.log_path = os.path.join(self.dir, "error.log")
        self.procs = []

    def create(self):
        tag = f"cf{os.getpid() % 100000}"
        outer, inner = f"{tag}h{self.index}", f"{tag}n{self.index}"
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        run("ip", "link", "set", inner, "netns", self.ns)
        run("ip", "addr", "add", f"10.231.{self.index}.1/24", "dev", outer)
        run("ip", "link", "set", outer, "up")
        run("ip", "-n", self.ns, "addr", "add", f"{self.addr}/24", "dev", inner)
        run("ip", "-n", self.ns, "link", "set", inner, "up")
        run("ip", "-n", self.ns, "link", "set", "lo", "up")

    def start(self):
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, self.binary, "-b", f"0.0.0.0:{HTTP_PORT}",
             "--metrics-bind", f"0.0.0.0:{METRICS_PORT}", "-w", "2", "-p", self.pidfile,
             "--graceful-timeout", "10", "--chdir", self.examples, "--error-logfile",
             self.log_path, "diag:app"], stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(proc)  # `ip netns exec` execs the server: proc.pid is the master
        wait_for(lambda: proc.poll() is not None or read_pid(self.pidfile) == proc.pid,
                 what=f"host {self.index}'s pidfile")
        assert proc.poll() is None, f"host {self.index} exited: {self.log()}"
        wait_for(lambda: self.get("/health/ready", METRICS_PORT)[0] == 200,
                 what=f"host {self.index} ready")
        return proc

    def master(self):
        return read_pid(self.pidfile)

    def get(self, path, port=HTTP_PORT):
        """(status, body) of one request straight to the host, not through HAProxy."""
        try:
            with socket.create_connection((self.addr, port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return 0, b""
        head, _, body = data.partition(b"\r\n\r\n")
        return (int(head.split()[1]) if head else 0), body

    def wait(self, predicate, what):
        """wait_for, failing with what the host's pidfile and log say."""
        try:
            wait_for(predicate, 30, what=f"host {self.index}: {what}")
        except AssertionError as e:
            raise AssertionError(f"{e}; pidfile says {self.master()}; log:\n{self.log()}") from None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""

    def destroy(self):
        pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


class HAProxy:
    """Debian's haproxy in the test's namespace: round robin over the hosts, an HTTP health
    check on each host's /health/ready every 100 ms, and retries on another host for a
    request whose connection failed (what a draining or stopped host causes)."""

    def __init__(self, hosts, workdir):
        self.port = free_port()
        self.stats = os.path.join(workdir, "haproxy.sock")
        servers = "\n".join(f"    server h{h.index} {h.addr}:{HTTP_PORT}" for h in hosts)
        self.config = os.path.join(workdir, "haproxy.cfg")
        with open(self.config, "w") as f:
            f.write(f"""global
    stats socket {self.stats} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
frontend web
    bind 127.0.0.1:{self.port}
    default_backend fleet
backend fleet
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server check port {METRICS_PORT} inter 100ms fall 1 rise 2
{servers}
""")
        self.log = open(os.path.join(workdir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def servers(self):
        """HAProxy's `show stat` rows for the fleet's servers, by name (h1, h2, ...)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.stats)
                s.sendall(b"show stat\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {r["svname"]: r for r in rows
                if r["pxname"] == "fleet" and r["svname"].startswith("h")}

    def wait_status(self, name, status):
        wait_for(lambda: self.servers().get(name, {}).get("status") == status, 15,
                 what=f"HAProxy to see {name} {status}")

    def wait_up(self, name):
        self.wait_status(name, "UP")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def fleet(binary, examples, tmp_path):
    assert shutil.which("haproxy"), "haproxy is not installed (tools/install-deps --test)"
    hosts = [Host(i, binary, examples, str(tmp_path)) for i in range(1, HOSTS + 1)]
    lb = None
    try:
        for h in hosts:
            h.create()
            h.start()
        lb = HAProxy(hosts, str(tmp_path))
        for h in hosts:
            lb.wait_up(f"h{h.index}")
        yield hosts, lb
    finally:
        if lb is not None:
            lb.stop()
        for h in hosts:
            h.destroy()


def test_rolling_upgrade_and_restart_behind_haproxy(fleet):
    hosts, lb = fleet
    version = hosts[0].get("/version")[1].strip()
    assert version and not version.endswith(b"-next")
    keep = LoadClient(lb.port, "/", threads=3, keepalive=True)
    fresh = LoadClient(lb.port, "/", threads=2, keepalive=False)
    with keep, fresh:
        wait_for(lambda: keep.ok > 50 and fresh.ok > 50, 15, what="load through HAProxy")
        # 1. A USR2 upgrade to the next build, host after host.
        for h in hosts:
            old = h.master()
            replace_binary(h.binary, source=NEXT)
            os.kill(old, signal.SIGUSR2)
            h.wait(lambda: h.master() not in (0, old) and not pid_alive(old),
                   f"the old master {old} to hand over and leave")
            assert h.get("/version")[1].strip() == version + b"-next"
            lb.wait_up(f"h{h.index}")
            served = keep.ok + fresh.ok
            wait_for(lambda: keep.ok + fresh.ok > served + 50, 15, what="load going on")
        # 2. A restart, host after host: TERM (it drains; its health check turns 503 and its
        # listeners close), then a new master.
        downs = {name: int(row["chkdown"]) for name, row in lb.servers().items()}
        for h in hosts:
            old = h.master()
            os.kill(old, signal.SIGTERM)
            h.wait(lambda: not pid_alive(old), f"the master {old} to stop")
            lb.wait_status(f"h{h.index}", "DOWN")  # the deploy tool waits for the LB to notice
            h.start()
            lb.wait_up(f"h{h.index}")
            served = keep.ok + fresh.ok
            wait_for(lambda: keep.ok + fresh.ok > served + 50, 15, what="load going on")
    total = keep.ok + fresh.ok
    print(f"\nfleet of {HOSTS}: {total} requests through HAProxy, "
          f"{len(keep.failed) + len(fresh.failed)} failed, {keep.reused_conn_closed} reused "
          f"client connections closed")
    keep.check(max_reused_closed=0)  # HAProxy keeps the client side open throughout
    fresh.check(max_reused_closed=0)
    rows = lb.servers()
    for h in hosts:
        row = rows[f"h{h.index}"]
        assert int(row["stot"]) > 0, f"h{h.index} served nothing: {row}"
        assert int(row["chkdown"]) > downs[f"h{h.index}"]  # taken out while it restarted
        assert h.get("/version")[1].strip() == version + b"-next"
