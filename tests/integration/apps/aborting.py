"""A WSGI app for the worker-timeout test: /hang sleeps in the app for a minute; a SIGABRT
handler records the signal in $ABORT_FILE and returns, so the worker survives SIGABRT and
only the master's SIGKILL that follows can end it."""
import os
import signal
import time


def _record(sig, frame):
    with open(os.environ["ABORT_FILE"], "a") as f:
        f.write(f"{signal.Signals(sig).name} {os.getpid()}\n")


signal.signal(signal.SIGABRT, _record)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()}\n".encode()]
