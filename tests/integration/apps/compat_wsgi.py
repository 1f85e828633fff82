"""A plain WSGI app for test_gunicorn_compat.py: what gunicorn passes through and cppicorn
must too (reason phrases, wsgi.file_wrapper under the app's Content-Length)."""


def application(environ, start_response):
    """The bare-module default (`cppicorn compat_wsgi`), as gunicorn looks it up."""
    path = environ["PATH_INFO"]
    query = environ["QUERY_STRING"]
    if path == "/reason":  # ?299 Custom Reason
        status = query.replace("+", " ")
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/ctl":  # a phrase that would split the head: start_response must refuse it
        try:
            start_response("200 OK\r\nX-Injected: 1", [("Content-Type", "text/plain")])
        except ValueError as e:
            start_response("500 Refused", [("Content-Type", "text/plain")])
            return [str(e).encode()]
        return [b"accepted"]
    if path == "/wrapped":  # ?FILE&START&LENGTH: a file_wrapper that must send LENGTH bytes
        name, start, length = query.split("&")
        f = open(name, "rb")
        f.seek(int(start))
        start_response("206 Partial Content",
                       [("Content-Type", "application/octet-stream"),
                        ("Content-Length", length)])
        return environ["wsgi.file_wrapper"](f)
    if path.endswith("/forwarded"):  # what forwarder_headers let a trusted proxy set
        keys = ("SCRIPT_NAME", "PATH_INFO", "HTTP_REMOTE_USER", "HTTP_X_OTHER")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr({k: environ.get(k) for k in keys}).encode()]
    if path.startswith("/environ"):
        body = repr({k: environ[k] for k in ("PATH_INFO", "SCRIPT_NAME", "QUERY_STRING",
                                             "RAW_URI")}).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def create_app(greeting="hello", *, punctuation="!"):
    """A factory with literal arguments: 'compat_wsgi:create_app("hi", punctuation="?")'."""
    body = f"{greeting}{punctuation}".encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    return app


def env_app(environ, start_response):
    """What -e/--env and --root-path change: os.environ and SCRIPT_NAME / PATH_INFO."""
    import os
    body = repr({"FROM_FLAG": os.environ.get("FROM_FLAG"), "SCRIPT_NAME": environ["SCRIPT_NAME"],
                 "PATH_INFO": environ["PATH_INFO"], "METHOD": environ["REQUEST_METHOD"]})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
