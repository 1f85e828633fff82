"""USR2 binary upgrades, HUP and TTIN/TTOU under load: no request may fail.

The server runs from a copy of the installed binary; "upgrading" replaces that file with
cppicorn-next (the same server reporting version X.Y.Z-next) and sends USR2. Load runs the
whole time from LoadClient threads, over keep-alive and over fresh connections.
"""
import os
import shutil
import signal
import stat

import pytest

from conftest import BUILD, LoadClient, wait_for

NEXT = os.path.join(BUILD, "tests", "cppicorn-next")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False  # reaped between the two looks


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def replace_binary(path, source=None, script=None):
    """Replaces the file at path (a new inode, as a package upgrade does)."""
    tmp = path + ".new"
    if source:
        shutil.copy(source, tmp)
    else:
        with open(tmp, "w") as f:
            f.write(script)
    os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR)
    os.rename(tmp, path)


def version_of(server):
    status, headers, body = server.request("GET", "/version")
    assert status == 200
    return body.decode().strip()


@pytest.fixture
def upgradable(server, binary, tmp_path):
    """A diag server started from its own copy of the binary, with a pidfile."""
    exe = str(tmp_path / "bin" / "cppicorn")
    os.makedirs(os.path.dirname(exe))
    shutil.copy(binary, exe)
    server.binary = exe
    server.pidfile = str(tmp_path / "cppicorn.pid")
    yield server
    # A new master outlives the old one (the test's child): stop it too.
    pid = read_pid(server.pidfile)
    if pid and pid != server.proc.pid and pid_alive(pid):
        os.kill(pid, signal.SIGINT)
        wait_for(lambda: not pid_alive(pid), 10, what="new master exit")


def run_load(port, seconds_after, event, path="/"):
    """Runs keep-alive and fresh-connection load around event(); returns both clients."""
    keep = LoadClient(port, path, threads=3, keepalive=True)
    fresh = LoadClient(port, path, threads=2, keepalive=False)
    with keep, fresh:
        wait_for(lambda: keep.ok > 20 and fresh.ok > 20, 10, what="load running")
        event()
        before = keep.ok + fresh.ok
        wait_for(lambda: keep.ok + fresh.ok > before + seconds_after * 50, 30,
                 what="load continuing after the event")
    return keep, fresh


def report(name, keep, fresh):
    """No request failed; each keep-alive thread met at most one idle connection closed
    under it (its worker retiring); fresh connections never retry."""
    total = keep.ok + fresh.ok + len(keep.failed) + len(fresh.failed)
    print(f"\n{name}: {total} requests, {keep.reused_conn_closed} reused keep-alive "
          f"connections closed, {len(keep.failed) + len(fresh.failed)} failed")
    keep.check()
    fresh.check(max_reused_closed=0)


def test_usr2_upgrade_to_new_build_under_load(upgradable):
    s = upgradable
    s.start("-w", "2", "-p", s.pidfile, app="diag:app")
    old = s.proc.pid
    version = version_of(s)
    assert not version.endswith("-next")

    def upgrade():
        replace_binary(s.binary, source=NEXT)
        s.signal(signal.SIGUSR2)
        assert s.wait_exit(30) == 0  # the old master drains and leaves
    keep, fresh = run_load(s.port, 2, upgrade)
    report("USR2 upgrade", keep, fresh)

    new = read_pid(s.pidfile)
    assert new != old and pid_alive(new)
    assert version_of(s) == version + "-next"
    assert not os.path.exists(s.pidfile + ".oldbin")
    assert "Handing over to the new master" in s.log()
    # "(new)" leaves the title on the new master's next tick after the old master is gone.
    wait_for(lambda: open(f"/proc/{new}/cmdline", "rb").read().startswith(b"cppicorn: master ["),
             5, what="new master's title")


@pytest.mark.parametrize("broken", ["exits", "never-ready", "bad-config"])
def test_failed_upgrade_keeps_old_master_serving(upgradable, tmp_path, broken):
    s = upgradable
    config = tmp_path / "c.yaml"
    config.write_text("workers: 2\n")
    s.start("-c", str(config), "-p", s.pidfile, "--upgrade-timeout", "2", app="diag:app")
    old = s.proc.pid
    old_workers = s.wait_workers(2)

    def failing_upgrade():
        if broken == "exits":
            replace_binary(s.binary, script="#!/bin/sh\nexit 1\n")
            expect = "new master exited with code 1"
        elif broken == "never-ready":
            replace_binary(s.binary, script="#!/bin/sh\nexec sleep 60\n")
            expect = "not ready within upgrade_timeout"
        else:
            replace_binary(s.binary, source=NEXT)
            config.write_text("workers: 2\nwokers: 3\n")
            expect = "new master exited with code 2"
        s.signal(signal.SIGUSR2)
        wait_for(lambda: "Upgrade failed" in s.log(), 20, what="upgrade failure")
        assert expect in s.log()
    keep, fresh = run_load(s.port, 1, failing_upgrade)
    report(f"failed USR2 ({broken})", keep, fresh)
    assert s.proc.poll() is None
    assert read_pid(s.pidfile) == old
    assert not os.path.exists(s.pidfile + ".oldbin")
    assert s.workers() == old_workers
    assert not version_of(s).endswith("-next")


def test_second_usr2_is_refused(upgradable):
    s = upgradable
    s.start("-w", "1", "-p", s.pidfile, "--upgrade-timeout", "3", app="diag:app")
    replace_binary(s.binary, script="#!/bin/sh\nexec sleep 60\n")
    s.signal(signal.SIGUSR2)
    wait_for(lambda: "Upgrading: started new master" in s.log(), 10, what="upgrade start")
    s.signal(signal.SIGUSR2)
    wait_for(lambda: "Refusing USR2: an upgrade to pid" in s.log(), 10, what="refusal")
    assert read_pid(s.pidfile + ".oldbin") == s.proc.pid  # while the upgrade is under way
    wait_for(lambda: "Upgrade failed" in s.log(), 20, what="timeout")
    # The first attempt failed and the second never started: the old master serves, alone.
    assert s.log().count("Upgrading: started new master") == 1
    assert read_pid(s.pidfile) == s.proc.pid
    assert not os.path.exists(s.pidfile + ".oldbin")
    assert not version_of(s).endswith("-next")
    assert s.proc.poll() is None


@pytest.mark.parametrize("finish", [signal.SIGTERM, signal.SIGQUIT], ids=["term", "quit"])
def test_manual_upgrade_winch_then_term(upgradable, finish):
    """README and cppicorn(1): WINCH the old master, then TERM it (QUIT, gunicorn's, works
    too). While both masters run, PIDFILE.oldbin holds the old pid and PIDFILE the new one,
    whose title says "(new)"."""
    s = upgradable
    s.start("-w", "2", "-p", s.pidfile, "--upgrade-manual", app="diag:app")
    old = s.proc.pid
    old_workers = s.wait_workers(2)

    def manual():
        replace_binary(s.binary, source=NEXT)
        s.signal(signal.SIGUSR2)
        wait_for(lambda: "Manual upgrade:" in s.log(), 20, what="new master ready")
        new = int(s.log().split("New master (pid ")[1].split(")")[0])
        with open(f"/proc/{old}/cmdline", "rb") as f:
            assert f.read().startswith(b"cppicorn: master (old) [")
        with open(f"/proc/{new}/cmdline", "rb") as f:
            assert f.read().startswith(b"cppicorn: master (new) [")
        assert read_pid(s.pidfile + ".oldbin") == old
        wait_for(lambda: read_pid(s.pidfile) == new, 10, what="the new master's pidfile")
        assert old_workers <= s.workers()  # old workers still there, with the new master
        s.signal(signal.SIGWINCH)
        wait_for(lambda: not (s.workers() & old_workers), 20, what="old workers stopped")
        s.signal(finish)
        assert s.wait_exit(20) == 0
        assert "Handing over to the new master" in s.log()
    keep, fresh = run_load(s.port, 1, manual)
    report(f"manual USR2 + WINCH + {signal.Signals(finish).name}", keep, fresh)
    assert version_of(s).endswith("-next")
    assert not os.path.exists(s.pidfile + ".oldbin")


def test_manual_upgrade_rollback(upgradable):
    s = upgradable
    s.start("-w", "2", "-p", s.pidfile, "--upgrade-manual", app="diag:app")

    def rollback():
        replace_binary(s.binary, source=NEXT)
        s.signal(signal.SIGUSR2)
        wait_for(lambda: "Manual upgrade:" in s.log(), 20, what="new master ready")
        new = int(s.log().split("New master (pid ")[1].split(")")[0])
        s.signal(signal.SIGWINCH)
        wait_for(lambda: not s.workers() - {new}, 20, what="old workers stopped")
        s.signal(signal.SIGHUP)  # the old master takes its workers back
        wait_for(lambda: len(s.workers() - {new}) == 2, 20, what="old workers back")
        os.kill(new, signal.SIGTERM)  # graceful: its clients finish
        wait_for(lambda: "Upgrade failed" in s.log(), 20, what="old master noticing")
    keep, fresh = run_load(s.port, 1, rollback)
    report("manual rollback", keep, fresh)
    assert not version_of(s).endswith("-next")
    assert read_pid(s.pidfile) == s.proc.pid


@pytest.mark.parametrize("event", ["hup", "ttin", "ttou", "sigkill"])
def test_pool_changes_under_load(server, tmp_path, event):
    config = tmp_path / "c.yaml"
    config.write_text("workers: 2\n")
    server.start("-c", str(config), app="diag:app")
    before = server.wait_workers(2)

    def change():
        if event == "hup":
            config.write_text("workers: 3\n")
            server.signal(signal.SIGHUP)
            wait_for(lambda: len(server.workers()) == 3 and not (server.workers() & before), 20,
                     what="rotation to 3 new workers")
        elif event == "ttin":
            server.signal(signal.SIGTTIN)
            server.wait_workers(3)
        elif event == "ttou":
            server.signal(signal.SIGTTOU)
            server.wait_workers(1)
        else:
            os.kill(sorted(before)[0], signal.SIGKILL)
            wait_for(lambda: len(server.workers()) == 2 and server.workers() != before, 20,
                     what="replacement worker")
    keep, fresh = run_load(server.port, 1, change)
    if event == "sigkill":
        # Requests in flight on the killed worker die with it; a client retries them once.
        # On a reused connection the client cannot tell that from an idle close (and may
        # retry, the request being idempotent); on a fresh one it is a failure.
        print(f"\nSIGKILL worker: keep {keep.summary()}; fresh {fresh.summary()}")
        keep.check()
        assert fresh.reused_conn_closed == 0
        assert len(fresh.failed) <= 1  # at most the one request that worker was serving
    else:
        report(event, keep, fresh)
