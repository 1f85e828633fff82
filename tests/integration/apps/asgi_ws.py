"""A plain ASGI 3 WebSocket app (no framework) for the asgi worker's WebSocket tests
(test_asgi_ws.py), by path: /echo (text and bytes back as they came), /subprotocol (picks
"chat" when offered), /deny (close before accept: 403), /reject (a 401 of its own through the
websocket.http.response extension, its body in two messages), /close (closes with 4000 "bye" after
one message), /scope (the scope as JSON), /boom (raises after accept: 1011). Over HTTP,
/events is what the WebSockets saw end (their disconnect codes) and /pid the worker's pid."""
import json
import os

_events = []  # ("disconnect", path, code) as the app received them


def _scope_json(scope):
    info = {k: v for k, v in scope.items() if k not in ("headers", "raw_path", "query_string")}
    info["raw_path"] = scope["raw_path"].decode("latin-1")
    info["query_string"] = scope["query_string"].decode("latin-1")
    info["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    return json.dumps(info)


async def _http(scope, receive, send):
    if scope["path"] == "/events":
        body = json.dumps(_events).encode()
    else:
        body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def _echo(path, receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _events.append(["disconnect", path, message["code"]])
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan here")
    if scope["type"] == "http":
        return await _http(scope, receive, send)
    assert scope["type"] == "websocket"
    path = scope["path"]
    assert (await receive())["type"] == "websocket.connect"
    if path == "/deny":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/reject":
        assert "websocket.http.response" in scope["extensions"]
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Token")]})
        await send({"type": "websocket.http.response.body", "body": b"no token, ",
                    "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"no socket"})
        try:
            await send({"type": "websocket.accept"})
        except RuntimeError:
            _events.append(["refused accept", path])
        return
    if path == "/subprotocol":
        chosen = "chat" if "chat" in scope["subprotocols"] else None
        await send({"type": "websocket.accept", "subprotocol": chosen,
                    "headers": [(b"x-app", b"yes")]})
        return await _echo(path, receive, send)
    await send({"type": "websocket.accept"})
    if path == "/scope":
        await send({"type": "websocket.send", "text": _scope_json(scope)})
        await send({"type": "websocket.close"})
    elif path == "/close":
        await receive()
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
        message = await receive()
        _events.append(["disconnect", path, message["code"]])
    elif path == "/boom":
        raise ValueError("boom from the WebSocket app")
    else:
        await _echo(path, receive, send)
