"""A WSGI app answering what a worker sees of the process environment systemd and the master
use (LISTEN_*, NOTIFY_SOCKET, WATCHDOG_*) and its sys.path[0], as JSON."""
import json
import os
import sys

KEYS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC",
        "WATCHDOG_PID")


def app(environ, start_response):
    doc = {"env": {k: os.environ[k] for k in KEYS if k in os.environ},
           "path0": sys.path[0], "pid": os.getpid()}
    body = json.dumps(doc).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
