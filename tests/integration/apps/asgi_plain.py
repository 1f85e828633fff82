"""A plain ASGI 3 app (no framework) for the asgi worker's tests: the scope as JSON, a body
echo, a body read as it comes (/upload, /progress), a streamed response, an exception, and a barrier that holds requests until N of them
are in flight in the same worker at once."""
import asyncio
import json
import os

_waiting = 0
_all_in = None  # an asyncio.Event, made on the worker's loop
_progress = {"received": 0, "done": False, "disconnected": False,  # of the last /upload
             "in_send": False,  # /big
             "waiting": False, "gone": None}  # /until-gone


async def _body(receive):
    chunks, events = [], 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        events += 1
        chunks.append(message["body"])
        if not message.get("more_body", False):
            return b"".join(chunks), events


async def _respond(send, status, body, content_type=b"text/plain", extra=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), *extra]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    global _waiting, _all_in
    if scope["type"] == "lifespan":
        raise RuntimeError("this app does not do lifespan")  # asgi_lifespan auto goes on
    assert scope["type"] == "http"
    path = scope["path"]
    if path.startswith("/scope"):
        info = dict(scope)
        info["raw_path"] = scope["raw_path"].decode("latin-1")
        info["query_string"] = scope["query_string"].decode("latin-1")
        info["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        info["pid"] = os.getpid()
        info["state"] = None if "state" not in scope else dict(scope["state"])
        await _respond(send, 200, json.dumps(info).encode(), b"application/json")
    elif path == "/echo":
        body, events = await _body(receive)
        await _respond(send, 200, body, extra=[(b"x-events", str(events).encode())])
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": f"part {i}\n".encode(),
                        "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/boom":
        raise ValueError("boom from the app")
    elif path == "/disconnect":
        # After the body, receive() waits until the response is over: then http.disconnect.
        await _body(receive)
        waiter = asyncio.ensure_future(receive())
        await asyncio.sleep(0.01)
        pending = not waiter.done()
        await _respond(send, 200, b"pending" if pending else b"early")
        message = await asyncio.wait_for(waiter, 5)
        assert message["type"] == "http.disconnect"
        await send({"type": "http.response.body", "body": b"ignored"})  # a no-op now
    elif path.startswith("/barrier/"):
        n = int(path.rsplit("/", 1)[1])
        if _all_in is None:
            _all_in = asyncio.Event()
        _waiting += 1
        if _waiting >= n:
            _all_in.set()
        await asyncio.wait_for(_all_in.wait(), 10)
        await _respond(send, 200, f"{os.getpid()}".encode())
    elif path == "/hold":
        # In flight until the test creates the release file.
        _waiting += 1
        release = os.environ["CPPICORN_TEST_RELEASE"]
        with open(release + ".held", "w") as f:
            f.write(str(_waiting))
        try:
            while not os.path.exists(release):
                await asyncio.sleep(0.01)
        finally:
            _waiting -= 1
        await _respond(send, 200, b"held")
    elif path == "/upload":  # the body read event by event, its progress seen at /progress
        _progress.update(received=0, done=False, disconnected=False)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _progress["disconnected"] = True
                return
            _progress["received"] += len(message["body"])
            if not message.get("more_body", False):
                break
        _progress["done"] = True
        await _respond(send, 200, str(_progress["received"]).encode())
    elif path == "/big":  # 64 x 256 KiB streamed; /progress sees whether a send() waits
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        for i in range(64):
            _progress["in_send"] = True  # seen by another request only if send() waits
            await send({"type": "http.response.body", "body": bytes([i]) * 262144,
                        "more_body": True})
            _progress["in_send"] = False
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/block":  # blocks the event loop itself, as CPU-bound code would
        import time
        time.sleep(60)
        await _respond(send, 200, b"woke")
    elif path == "/nap":  # a long poll: awaits, so the loop goes on
        await asyncio.sleep(float(scope["query_string"] or b"1"))
        await _respond(send, 200, b"rested")
    elif path == "/until-gone":  # sends nothing: waits for the client to leave
        await _body(receive)
        _progress["waiting"] = True
        _progress["gone"] = (await receive())["type"]
    elif path == "/progress":
        await _respond(send, 200, json.dumps(_progress).encode(), b"application/json")
    elif path == "/probe":
        await _respond(send, 200, str(_waiting).encode())  # how many others are held
    else:
        await _respond(send, 404, b"not found")
