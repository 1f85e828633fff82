"""Minimal WSGI app for the Python servers in bench/run: gunicorn, uWSGI and cppicorn's WSGI row.

It does the same work as cppicorn's examples/hello app: a fixed 14-byte body with an
explicit Content-Length, so every server can keep the connection alive and nobody pays
for chunked encoding. The header list is built once, as a tuned real app would.
"""

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


application = app  # uWSGI's default callable name
