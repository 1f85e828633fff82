"""A WSGI app for test_threads.py: calls that wait for each other, and what a call sees of
its thread.

/barrier?n=N    waits (up to 20 s) until N calls are in it at once; answers the name of the
                thread it ran on (503 when the barrier broke)
/multithread    environ["wsgi.multithread"]
/echo           the length of the request body, read in one go
"""
import threading
from urllib.parse import parse_qs

_lock = threading.Lock()
_barriers = {}


def _barrier(n):
    with _lock:
        return _barriers.setdefault(n, threading.Barrier(n, timeout=20))


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/barrier":
        n = int(parse_qs(environ["QUERY_STRING"]).get("n", ["1"])[0])
        try:
            _barrier(n).wait()
        except threading.BrokenBarrierError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"barrier broken"]
        body = threading.current_thread().name.encode()
    elif path == "/multithread":
        body = str(environ["wsgi.multithread"]).encode()
    elif path == "/echo":
        body = str(len(environ["wsgi.input"].read())).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
