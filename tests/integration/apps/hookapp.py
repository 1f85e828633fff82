"""A plain WSGI app for the server-hook tests: / answers, /stuck never does (a timeout)."""
import time


def app(environ, start_response):
    if environ["PATH_INFO"] == "/stuck":
        time.sleep(3600)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
