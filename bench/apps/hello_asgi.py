"""Minimal ASGI app for the ASGI rows of bench/run: cppicorn -k asgi against uvicorn.

The same work as hello_wsgi.py: a fixed 14-byte body with an explicit Content-Length, the
messages built once. Lifespan is refused (both servers then go on without it). A WebSocket
(the wsecho rows) gets each message back as it came.
"""

BODY = b"Hello, World!\n"
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]}
MESSAGE = {"type": "http.response.body", "body": BODY}


async def echo(receive, send):
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        await send({"type": "websocket.send", "text": text} if text is not None
                   else {"type": "websocket.send", "bytes": message.get("bytes")})


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "websocket":
            return await echo(receive, send)
        raise RuntimeError("no lifespan here")
    await send(START)
    await send(MESSAGE)
