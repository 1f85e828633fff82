"""What the master tells systemd, captured: NOTIFY_SOCKET is a real AF_UNIX datagram socket
the test binds, with SO_PASSCRED so every message comes with its sender's pid. Workers are
held at boot by apps/gated.py (the import waits for a ticket file), so "READY=1 only once
every worker serves" is checked against workers that demonstrably do not serve yet."""
import os
import re
import signal
import socket
import struct
import threading

import pytest

from conftest import wait_for
from test_upgrade import NEXT, read_pid, replace_binary, upgradable  # noqa: F401,F811

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
STATUS_RE = re.compile(r"^(\d+) of (\d+) workers serving, (\d+) requests served by them")


class Notifications:
    """Receives sd_notify datagrams; `messages` is a list of (sender pid, {field: value})."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        space = socket.CMSG_SPACE(struct.calcsize("3i"))
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, space)
            except OSError:
                return
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self.lock:
                self.messages.append((pid, fields))

    def close(self):
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def index(self, key, value=None, start=0, pid=None):
        """Index of the first message from `start` on with key (=value), or None."""
        for i, (p, m) in enumerate(self.snapshot()[start:], start):
            if key in m and (value is None or m[key] == value) and (pid is None or p == pid):
                return i
        return None

    def wait(self, key, value=None, start=0, pid=None, timeout=15):
        return wait_for(lambda: (lambda i: i is not None and (i, self.snapshot()[i][1]))(
            self.index(key, value, start, pid)), timeout, what=f"{key}={value or '*'}")[0]

    def wait_status(self, pattern, start=0, timeout=15):
        rx = re.compile(pattern)

        def found():
            for i, (_, m) in enumerate(self.snapshot()[start:], start):
                if "STATUS" in m and rx.search(m["STATUS"]):
                    return (i, m["STATUS"])
            return None
        return wait_for(found, timeout, what=f"STATUS ~ {pattern!r}")

    def dump(self):
        return "\n".join(f"{p}: {m}" for p, m in self.snapshot())


@pytest.fixture
def notify(tmp_path):
    n = Notifications(str(tmp_path / "notify.sock"))
    yield n
    n.close()


def gated_env(notify, gate, **extra):
    return {"NOTIFY_SOCKET": notify.path, "GATE_DIR": str(gate), "PYTHONDONTWRITEBYTECODE": "1",
            **extra}


def ticket(gate, n):
    for i in range(n):
        (gate / f"ticket-{os.urandom(4).hex()}-{i}").write_text("")


def test_ready_only_once_every_worker_serves_then_reload_and_stop(server, notify, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("workers: 2\ngraceful_timeout: 5\n")
    server.start("-c", str(cfg), "--app-path", APPS, app="gated:app", wait=False,
                 env=gated_env(notify, gate))
    master = server.proc.pid
    wait_for(lambda: len(server.workers()) == 2, what="2 workers forked")
    # One worker through: the master reports it, and still no READY.
    ticket(gate, 1)
    i, status = notify.wait_status(r"^1 of 2 workers serving")
    assert notify.index("READY") is None, notify.dump()
    # The second: READY=1 now, with the STATUS text README promises.
    ticket(gate, 1)
    ready = notify.wait("READY", "1")
    fields = notify.snapshot()[ready][1]
    assert STATUS_RE.match(fields["STATUS"]), fields
    assert STATUS_RE.match(fields["STATUS"]).group(1, 2) == ("2", "2")
    assert notify.index("READY") > i
    wait_for(server.accepts, what="serving")
    # Every message so far came from the master (workers forget NOTIFY_SOCKET).
    assert {p for p, _ in notify.snapshot()} == {master}, notify.dump()

    # STATUS counts requests: after 5 more, the tick reports at least that many.
    served = int(STATUS_RE.match(fields["STATUS"]).group(3))
    for _ in range(5):
        assert server.request("GET", "/")[0] == 200
    notify.wait_status(r"^2 of 2 workers serving, (?:[5-9]|\d\d+) requests", start=ready)
    assert served < 5

    # HUP: RELOADING=1 at once; READY=1 only once the new generation (held at the gate) serves.
    mark = len(notify.snapshot())
    server.signal(signal.SIGHUP)
    reloading = notify.wait("RELOADING", "1", start=mark)
    wait_for(lambda: len(server.workers()) == 4, what="the new generation forked")
    ticket(gate, 1)
    notify.wait_status(r"^3 of 2 workers serving|^1 of 2 workers serving", start=reloading)
    assert notify.index("READY", start=reloading) is None, notify.dump()
    ticket(gate, 1)
    ready2 = notify.wait("READY", "1", start=reloading)
    assert "last reload: generation" in notify.snapshot()[ready2][1]["STATUS"]
    assert server.log_has("Reloaded")

    # TERM: STOPPING=1, and nothing claims readiness after it.
    mark = len(notify.snapshot())
    server.signal(signal.SIGTERM)
    assert server.wait_exit(20) == 0
    stopping = notify.wait("STOPPING", "1", start=mark, timeout=5)
    assert notify.index("READY", start=stopping) is None, notify.dump()
    assert {p for p, _ in notify.snapshot()} == {master}


def test_watchdog_pings_while_the_pool_is_healthy(server, notify, tmp_path):
    """WATCHDOG_USEC/WATCHDOG_PID as systemd sets them: WATCHDOG=1 every half interval from
    the master; a pool whose only worker is stuck in a request is not pinged for."""
    wrapper = tmp_path / "with-watchdog-pid"
    wrapper.write_text(f'#!/bin/sh\nWATCHDOG_PID=$$ exec {server.binary} "$@"\n')
    wrapper.chmod(0o755)
    server.binary = str(wrapper)
    server.start("-w", "1", app="diag:app",
                 env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
    master = server.proc.pid
    first = notify.wait("WATCHDOG", "1", pid=master)
    wait_for(lambda: sum("WATCHDOG" in m for _, m in notify.snapshot()) >= 4,
             what="4 watchdog pings")
    # The only worker stuck in the app for 4 s: no fresh heartbeat for > 2 s.
    from test_signals import InFlight
    req = InFlight(server.port, "/sleep?ms=4000")
    wait_for(lambda: server.log_has("withholding WATCHDOG=1"), what="pings withheld")
    held = len(notify.snapshot())
    req.join()
    assert req.status == 200
    notify.wait("WATCHDOG", "1", start=held, pid=master)  # pinging again once it serves
    assert first is not None


def test_watchdog_for_another_pid_is_not_ours(server, notify):
    server.start("-w", "1", env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
                                 "WATCHDOG_PID": "1"})
    notify.wait("READY", "1")
    notify.wait_status(r"^1 of 1 workers serving", timeout=5)
    server.request("GET", "/")
    notify.wait_status(r", [1-9]\d* requests served", timeout=5)  # a tick went by
    assert notify.index("WATCHDOG") is None, notify.dump()


def test_usr2_upgrade_passes_mainpid_to_the_new_master(upgradable, notify):
    s = upgradable
    s.start("-w", "2", "-p", s.pidfile, app="diag:app", env={"NOTIFY_SOCKET": notify.path})
    old = s.proc.pid
    notify.wait("READY", "1", pid=old)
    mark = len(notify.snapshot())
    replace_binary(s.binary, source=NEXT)
    s.signal(signal.SIGUSR2)
    upgrading = notify.wait_status(r"; upgrading to pid \d+", start=mark)[0]
    new = int(notify.snapshot()[upgrading][1]["STATUS"].rsplit(" ", 1)[1])
    handover = notify.wait("MAINPID", str(new), start=mark, pid=old)
    assert s.wait_exit(30) == 0
    # The new master reports READY=1 (systemd takes it from the new MAINPID)...
    notify.wait("READY", "1", start=upgrading, pid=new)
    assert read_pid(s.pidfile) == new
    # ...and the old one never says STOPPING=1: the service is not stopping.
    assert notify.index("STOPPING") is None, notify.dump()
    assert notify.index("READY", start=handover, pid=old) is None, notify.dump()
