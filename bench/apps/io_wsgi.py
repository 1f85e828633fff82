"""An I/O-bound WSGI app for bench/run: each request waits 50 ms (a database call, say) and
answers "slept 50\n", as cppicorn's diag app does for /sleep?ms=50. Under gunicorn's gevent
worker time.sleep is monkey-patched, so the wait yields to other requests there too.
"""
import time

BODY = b"slept 50\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    time.sleep(0.05)
    start_response("200 OK", HEADERS)
    return [BODY]


application = app  # uWSGI's default callable name
