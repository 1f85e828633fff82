"""WSGI test app for test_wsgi.py. `app` runs every route under wsgiref.validate.validator,
which asserts PEP 3333 on both sides (environ, wsgi.input, start_response, the result and its
close()); a violation, or any WSGIWarning (made an error here), fails the request. `plain` is
the same app unwrapped, for what the validator hides (wsgi.file_wrapper's sendfile)."""
import json
import os
import sys
import threading
import time
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

IMPORT_PID = os.getpid()
CLOSED = []  # what the result's close() recorded
TICKS = [0]  # advanced by a background thread started by /thread


def reply(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                            *extra])
    return [body]


def as_json(start_response, doc):
    return reply(start_response, json.dumps(doc).encode(), ctype="application/json")


class Closing:
    """An iterable with close(), as PEP 3333 says the server must call."""

    def __init__(self, name, parts):
        self.name, self.parts = name, parts

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        CLOSED.append(self.name)


def generator(name):
    try:
        yield b"one,"
        yield b""
        yield b"two,"
        yield b"three"
    finally:
        CLOSED.append(name)


def failing():
    yield b"partial"
    raise ZeroDivisionError("fails half way")


def ticker():
    out = os.environ.get("TICK_FILE")  # lets a test watch the ticks without a request
    while True:
        TICKS[0] += 1
        if out:
            with open(out + ".tmp", "w") as f:
                f.write(str(TICKS[0]))
            os.replace(out + ".tmp", out)
        time.sleep(0.01)


def raw(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path.startswith("/environ"):
        doc = {k: v for k, v in environ.items() if isinstance(v, str)}
        doc.update({k: environ[k] for k in ("wsgi.multithread", "wsgi.multiprocess",
                                             "wsgi.run_once", "wsgi.url_scheme")})
        doc["wsgi.version"] = list(environ["wsgi.version"])
        return as_json(start_response, doc)
    if path == "/echo":  # read(n) until b""
        chunks = []
        while True:
            b = inp.read(1000)
            if not b:
                break
            chunks.append(b)
        return reply(start_response, b"".join(chunks))
    if path == "/lines":  # iteration, readline(size), readlines()
        first = inp.readline()
        limited = inp.readline(3)
        rest_of_line = inp.readline()
        two = inp.readlines(1)
        rest = [line for line in inp]
        doc = [x.decode("latin-1") for x in [first, limited, rest_of_line] + two + rest]
        return as_json(start_response, doc)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first,")
        write(b"second,")
        return [b"third"]
    if path == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return generator("generator")
    if path == "/closing":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing("closing", [b"a", b"b"])
    if path == "/closed":
        return as_json(start_response, CLOSED)
    if path == "/declared":  # streamed, with the app's Content-Length
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return generator("declared")
    if path == "/declared-wrong":  # the app's Content-Length: QUERY_STRING
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", environ["QUERY_STRING"])])
        return generator("declared-wrong")
    if path == "/error":
        raise ValueError("boom from the app")
    if path == "/error-in-body":  # after the head went out: the connection is closed
        start_response("200 OK", [("Content-Type", "text/plain")])
        return failing()
    if path == "/exc-info":  # replaces the response before anything was sent
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("replaced")
        except KeyError:
            return reply(lambda s, h: start_response(s, h, sys.exc_info()), b"replaced",
                         status="503 Service Unavailable")
    if path == "/exc-info-late":  # after the head went out: re-raised, connection closed
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise KeyError("too late")
        except KeyError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"never"]
    if path == "/again":  # start_response twice without exc_info: an error
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]
    if path == "/file":
        f = open(environ["QUERY_STRING"], "rb")
        f.seek(5)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 4096)
    if path == "/errors":
        environ["wsgi.errors"].write("a line for the error log\n")
        environ["wsgi.errors"].writelines(["two ", "parts\n"])
        environ["wsgi.errors"].flush()
        return reply(start_response, b"logged")
    if path == "/pids":
        return as_json(start_response, {"import": IMPORT_PID, "pid": os.getpid()})
    if path == "/thread":
        threading.Thread(target=ticker, daemon=True).start()
        return reply(start_response, b"started")
    if path == "/ticks":
        return as_json(start_response, TICKS[0])
    if path == "/nobody":
        start_response("204 No Content", [])
        return []
    return reply(start_response, b"not found", status="404 Not Found")


app = validator(raw)
plain = raw
