"""Minimal ASGI app for the ASGI rows of bench/run: cppicorn -k asgi against uvicorn.

The same work as hello_wsgi.py: a fixed 14-byte body with an explicit Content-Length, the
messages built once. Lifespan is refused (both servers then go on without it). A WebSocket
(the wsecho and wsidle rows) gets each message back as it came. /sleep (the asgisleep rows)
answers the same body after `await asyncio.sleep(0.1)`: an I/O-bound coroutine, so a server
with N connections open can at best answer N / 0.1 s requests per second.
"""
import asyncio

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
    if scope["path"] == "/sleep":
        await asyncio.sleep(0.1)
    await send(START)
    await send(MESSAGE)
