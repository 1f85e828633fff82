"""An ASGI app with lifespan: startup writes a marker file and fills the lifespan state,
shutdown writes another. CPPICORN_TEST_FAIL_STARTUP makes startup fail with a message."""
import json
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.environ.get("CPPICORN_TEST_FAIL_STARTUP"):
                    await send({"type": "lifespan.startup.failed",
                                "message": "the database is not there"})
                    return
                scope["state"]["greeting"] = "hello from startup"
                with open(os.environ["CPPICORN_TEST_MARKS"] + ".startup", "w") as f:
                    f.write(str(os.getpid()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with open(os.environ["CPPICORN_TEST_MARKS"] + ".shutdown", "w") as f:
                    f.write(str(os.getpid()))
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({"state": dict(scope.get("state", {}))}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
