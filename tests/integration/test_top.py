"""`cppicorn ctl top`: the live view, run in a real pseudo-terminal. It redraws the status
table in place with fresh numbers, quits on q and on Ctrl-C, and leaves the terminal as it
found it (line editing and echo back on, cursor shown, alternate screen left)."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import termios

from conftest import wait_for
from test_control import start

CLEAR = b"\x1b[H\x1b[2J"
RESTORE = b"\x1b[?25h\x1b[?1049l"


class Tty:
    """`cppicorn ctl top` on the slave side of a pty; the test reads and types on the master."""

    def __init__(self, server, *args):
        self.pid, self.fd = pty.fork()  # the child gets the pty as its controlling terminal
        if self.pid == 0:
            os.execv(server.ctl_exe, [server.ctl_exe, "ctl", "--socket", server.ctl_path,
                                      "top", *args])
        self.out = b""

    def read(self):
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the slave
                break
            if not chunk:
                break
            self.out += chunk
        return self.out

    def frames(self):
        return [f.decode(errors="replace") for f in self.read().split(CLEAR)[1:]]

    def wait(self):
        def reaped():
            self.read()  # keep the pty drained so top never blocks writing
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            return [status] if pid else None
        status = wait_for(reaped, what="top to exit")[0]
        self.read()
        return os.waitstatus_to_exitcode(status)


def served(frame):
    m = re.search(r"requests: (\d+) served", frame)
    return int(m.group(1)) if m else None


def test_top_redraws_with_fresh_numbers_and_quits_on_q(server):
    start(server, "-w", "2")
    tty = Tty(server, "--interval", "0.2")
    try:
        first = wait_for(lambda: (f := tty.frames()) and served(f[0]) is not None and f[0],
                         what="a first frame")
        attrs = termios.tcgetattr(tty.fd)  # the slave's modes, while top runs
        assert not attrs[3] & termios.ICANON and not attrs[3] & termios.ECHO
        assert "cppicorn ctl top" in first and "PID" in first and "idle" in first
        assert tty.out.startswith(b"\x1b[?1049h")  # the alternate screen
        for _ in range(3):
            assert server.request("GET", "/")[0] == 200
        # A later frame, drawn over the first, counts the three requests.
        wait_for(lambda: any((served(f) or 0) >= served(first) + 3 for f in tty.frames()),
                 what="a frame with the new requests")
        assert len(tty.frames()) >= 2
        os.write(tty.fd, b"q")
        assert tty.wait() == 0
        assert tty.out.endswith(RESTORE)
        attrs = termios.tcgetattr(tty.fd)
        assert attrs[3] & termios.ICANON and attrs[3] & termios.ECHO, "terminal restored"
    finally:
        os.close(tty.fd)


def test_top_quits_on_ctrl_c_and_restores_the_terminal(server):
    start(server, "-w", "1")
    tty = Tty(server)
    try:
        wait_for(lambda: tty.frames(), what="a frame")
        os.write(tty.fd, b"\x03")  # the line discipline turns it into SIGINT
        assert tty.wait() == 0
        assert tty.out.endswith(RESTORE)
        assert termios.tcgetattr(tty.fd)[3] & termios.ECHO
    finally:
        os.close(tty.fd)


def test_top_iterations_and_json_for_scripts(server):
    start(server, "-w", "2")
    r = subprocess.run([server.ctl_exe, "ctl", "--socket", server.ctl_path, "--json", "top",
                        "--iterations", "3", "--interval", "0.1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(docs) == 3 and all(d["master"]["pid"] == server.proc.pid for d in docs)
    assert all(len(d["workers"]) == 2 for d in docs)
    r = subprocess.run([server.ctl_exe, "ctl", "--socket", server.ctl_path, "top",
                        "--iterations", "2"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.count("cppicorn ctl top") == 2
    assert "\x1b" not in r.stdout  # not a terminal: no escape codes
    r = subprocess.run([server.ctl_exe, "ctl", "--socket", server.ctl_path, "status",
                        "--iterations", "2"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "are for top" in r.stderr
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    r = subprocess.run([server.ctl_exe, "ctl", "--socket", server.ctl_path, "top",
                        "--iterations", "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect" in r.stdout  # shown in the frame
