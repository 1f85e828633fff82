"""An ASGI app for what happens after a client leaves mid-request (asgi_disconnect_grace_period):
/ignore never looks at receive() and waits for ever, /tidy hears http.disconnect and then
tidies up until /release, /after completes its response and then works on until /release.
/state tells what each one saw."""
import asyncio
import json

_state = {"ignore": None, "tidy": None, "after": None}
_gate = None  # an asyncio.Event, made on the worker's loop: /release sets it


async def _respond(send, status, body):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def _until_released(key):
    try:
        await _gate.wait()
    except asyncio.CancelledError:
        _state[key] = "cancelled"
        raise  # never swallowed: the task ends cancelled
    _state[key] = "finished"


async def app(scope, receive, send):
    global _gate
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    if _gate is None:
        _gate = asyncio.Event()
    path = scope["path"]
    if path == "/ignore":
        _state["ignore"] = "waiting"
        await _until_released("ignore")
    elif path == "/tidy":
        await receive()  # the (empty) body
        _state["tidy"] = "waiting"
        _state["tidy"] = (await receive())["type"]  # http.disconnect, once the client left
        await _until_released("tidy")
    elif path == "/after":
        await _respond(send, 200, b"done")
        _state["after"] = "responded"
        await _until_released("after")
    elif path == "/release":
        _gate.set()
        await _respond(send, 200, b"released")
    elif path == "/state":
        await _respond(send, 200, json.dumps(_state).encode())
    else:
        await _respond(send, 404, b"not found")
