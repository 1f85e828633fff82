"""A WSGI app as a package (README: `module/__init__.py` is loaded like `module.py`)."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from a package\n"]
