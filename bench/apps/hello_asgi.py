"""Minimal ASGI app for the ASGI row of bench/run: cppicorn -k asgi against uvicorn.

The same work as hello_wsgi.py: a fixed 14-byte body with an explicit Content-Length, the
messages built once. Lifespan is refused (both servers then go on without it).
"""

BODY = b"Hello, World!\n"
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]}
MESSAGE = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    await send(START)
    await send(MESSAGE)
