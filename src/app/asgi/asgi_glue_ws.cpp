// The WebSocket half of the ASGI glue (asgi_glue.cpp compiles it into the same namespace):
// _WsCycle is one WebSocket's receive() and send() (the handshake's answer, then messages both
// ways), _run_ws runs the app on it. Framing is the worker's loop's (asgi_ws.cpp's calls).
#include "app/asgi/asgi.h"

namespace cppicorn::asgi {

extern const char kWsGlue[] = R"PY(
import asyncio
import traceback
import _cppicorn_asgi as _c  # (the HTTP half imports them too: one namespace, read alone)


class ClientDisconnected(OSError):
    """send() on a WebSocket that is closing or gone (ASGI 2.4: an OSError subclass)."""


_WS = {}  # handle -> _WsCycle of the WebSockets in flight (their wake-ups come by handle)


class _WsCycle:
    """One WebSocket: the handshake's answer, then messages both ways. The worker's loop
    does the framing; here each receive()/send() is one call into _cppicorn_asgi, and a
    future waits only when there is nothing to receive or no room to send."""

    __slots__ = ("h", "connected", "accepted", "started", "streamed", "done", "waiter", "drain")

    def __init__(self, h):
        self.h = h
        self.connected = False  # websocket.connect delivered
        self.accepted = False
        self.started = False  # websocket.http.response.start: an HTTP answer instead
        self.streamed = False  # ... and a body message with more_body went out
        self.done = False  # the handle went back to the worker
        self.waiter = None  # receive(): a message the worker's loop decodes
        self.drain = None  # send(): room in the outbound buffer, or a streamed body written

    def wake(self):
        _resolve(self)

    async def receive(self):
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        while not self.done:
            event = _c.ws_recv(self.h)
            if event is not None:
                return event
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return {"type": "websocket.disconnect", "code": 1006, "reason": ""}

    async def send(self, message):
        kind = message["type"]
        if kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.done:
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            rc = _c.ws_send(self.h, text if text is not None else message.get("bytes", b""))
            while rc == 1:  # queued, but above the high-water mark: wait for the loop
                self.drain = asyncio.get_running_loop().create_future()
                try:
                    await self.drain
                finally:
                    self.drain = None
                rc = -1 if self.done else _c.ws_writable(self.h)
            if rc < 0:
                raise ClientDisconnected("the WebSocket is closed")
        elif kind == "websocket.accept":
            if self.accepted or self.done or self.started:
                raise RuntimeError("websocket.accept after the handshake was answered")
            _c.ws_accept(self.h, message.get("subprotocol"), message.get("headers") or ())
            self.accepted = True
        elif kind == "websocket.close":
            if self.done:
                return
            if self.started:
                raise RuntimeError("websocket.close during a websocket.http.response")
            if not self.accepted:
                _c.ws_deny(self.h)  # a close before accept refuses the handshake: 403
                self.finish(True)
            else:
                _c.ws_close(self.h, message.get("code", 1000), message.get("reason") or "")
        elif kind == "websocket.http.response.start":  # the extension: a denial of its own
            if self.accepted or self.done or self.started:
                raise RuntimeError("websocket.http.response.start after the handshake was "
                                   "answered")
            _c.start(self.h, message["status"], message.get("headers", ()))
            self.started = True
        elif kind == "websocket.http.response.body":
            if not self.started:
                raise RuntimeError("websocket.http.response.body before "
                                   "websocket.http.response.start")
            await _send_body(self, message)
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r} on a websocket scope")

    def finish(self, ok, error=None):
        self.done = True
        _WS.pop(self.h, None)
        _c.end(self.h, ok, error)
        self.wake()


async def _run_ws(app, h, scope):
    cycle = _WsCycle(h)
    _WS[h] = cycle
    try:
        await app(scope, cycle.receive, cycle.send)
    except ClientDisconnected:  # the peer went away while the app sent: no error
        if not cycle.done:
            cycle.finish(True)
    except BaseException as e:  # noqa: B036 (the worker must get the call back)
        if not cycle.done:
            cycle.finish(False, traceback.format_exc())
        else:
            _c.log("error", "Exception in ASGI application after its WebSocket closed:\n"
                   + traceback.format_exc())
        if isinstance(e, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            raise
    else:
        if not cycle.done:
            if cycle.accepted:
                cycle.finish(True)
            elif cycle.started:
                cycle.finish(False, "the ASGI application returned before its "
                                    "websocket.http.response was complete")
            else:
                cycle.finish(False, "the ASGI application returned without accepting or "
                                    "closing the WebSocket")
)PY";

}  // namespace cppicorn::asgi
