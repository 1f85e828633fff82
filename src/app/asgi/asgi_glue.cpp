// The Python half of the ASGI bridge, compiled once at load: serve() runs the worker's
// asyncio loop (lifespan startup, the requests, lifespan shutdown); _Cycle is one HTTP
// request's receive() and send() (_WsCycle, one WebSocket's, is asgi_glue_ws.cpp's: the
// same module namespace). Everything that touches bytes
// on the wire is the C side's (_cppicorn_asgi, asgi_module.cpp, asgi_ws.cpp).
#include <utility>

#include "app/asgi/asgi.h"

namespace cppicorn::asgi {
namespace {

constexpr char kGlue[] = R"PY(
import asyncio
import traceback
import _cppicorn_asgi as _c

_ASGI = _c.ASGI
_SHUTDOWN_WAIT = 30.0  # seconds lifespan shutdown may take, as gunicorn's


def _new_loop(kind):
    if kind != "asyncio":
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise RuntimeError(
                    "asgi_loop is uvloop, but uvloop is not installed (python3-uvloop)"
                ) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class _Lifespan:
    """The lifespan protocol: startup before the worker serves, shutdown after it drained."""

    def __init__(self, app, mode):
        self.app = app
        self.mode = mode
        self.state = {}
        self.inbox = asyncio.Queue()
        self.reply = None
        self.task = None
        self.running = False

    async def _main(self):
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        try:
            await self.app(scope, self.inbox.get, self._send)
        except BaseException as e:  # noqa: B036 (reported through the reply)
            if self.reply is not None and not self.reply.done():
                self.reply.set_result(("raised", traceback.format_exc()))
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            if self.reply is not None and not self.reply.done():
                self.reply.set_result(("returned", None))

    async def _send(self, message):
        kind = message.get("type", "")
        if kind in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
            outcome = ("ok", None)
        elif kind in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
            outcome = ("failed", message.get("message", ""))
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r} on the lifespan scope")
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(outcome)

    async def startup(self):
        """None when the app is up, else why it is not."""
        if self.mode == "off":
            return None
        self.reply = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        outcome, detail = await self.reply
        if outcome == "ok":
            self.running = True
            return None
        if outcome == "failed":
            return f"lifespan startup failed: {detail}" if detail else "lifespan startup failed"
        if self.mode == "on":
            if outcome == "raised":
                return f"lifespan startup raised:\n{detail}"
            return "the app returned from the lifespan scope before its startup completed"
        _c.log("info", "ASGI 'lifespan' protocol appears unsupported by the app: going on "
                       "without it (asgi_lifespan: off silences this)")
        if outcome == "raised":
            _c.log("debug", detail)
        return None

    async def shutdown(self):
        if not self.running or self.task.done():
            return
        self.reply = asyncio.get_running_loop().create_future()
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            outcome, detail = await asyncio.wait_for(self.reply, _SHUTDOWN_WAIT)
        except asyncio.TimeoutError:
            _c.log("error", "lifespan shutdown did not complete in time")
            return
        if outcome == "failed":
            _c.log("error", f"lifespan shutdown failed: {detail}")
        elif outcome == "raised":
            _c.log("error", f"lifespan shutdown raised:\n{detail}")


class _Cycle:
    """One HTTP request: the app's receive() and send() over its connection's handle."""

    __slots__ = ("h", "more", "started", "streamed", "done", "waiter", "drain", "task", "grace")

    def __init__(self, h):
        self.h = h
        self.more = True  # body left to deliver
        self.started = False  # http.response.start seen
        self.streamed = False  # a body message with more_body went out
        self.done = False  # the handle went back to the worker
        self.waiter = None  # receive(): body bytes the worker reads, or the exchange's end
        self.drain = None  # send(): a streamed body the worker writes behind a full socket
        self.task = None  # the task running the app for this request
        self.grace = None  # the client left: the timer that cancels the task, or True once fired

    async def receive(self):
        while self.more and not self.done:
            try:
                got = _c.read(self.h)
            except OSError:
                self.more = False
                return {"type": "http.disconnect"}
            if got is not None:
                body, self.more = got
                return {"type": "http.request", "body": body, "more_body": self.more}
            await self._woken()  # no byte yet: the worker's loop reads for us
        while not self.done:
            # The body is all read: the next event is the end of the exchange (finish()), or
            # the client leaving (the worker wakes us; other wake-ups are not that).
            await self._woken()
            if not self.done and _c.gone(self.h):
                break
        return {"type": "http.disconnect"}

    async def _woken(self):
        """Until the worker wakes this exchange (take()'s woken list) or it ends; every
        receive() that waits meanwhile shares the one future."""
        if self.waiter is None or self.waiter.done():
            self.waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self.waiter)

    async def send(self, message):
        if self.done:
            return  # after the response, or the client went away: nothing to do
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body before http.response.start")
            await _send_body(self, message)
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            _c.start(self.h, message["status"], message.get("headers", ()))
            self.started = True
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r} on an http scope")

    def wake(self, grace):
        """The worker woke this exchange: body bytes, a drained write, or the client gone,
        which starts the grace period after which the task is cancelled (gunicorn #3484:
        cancelling at once broke async database pools)."""
        _resolve(self)
        if self.grace is None and not self.done and _c.gone(self.h):
            self.grace = asyncio.get_running_loop().call_later(grace, self._give_up)

    def _give_up(self):
        self.grace = True
        if not self.done:
            self.task.cancel()

    def finish(self, ok, error=None):
        self.done = True
        if _HTTP.get(self.h) is self:
            del _HTTP[self.h]  # (a later request on the connection may have the handle)
        if self.grace is not None and self.grace is not True:
            self.grace.cancel()
        _c.end(self.h, ok, error)
        _resolve(self)


def _resolve(cycle):
    """Lets a receive() or send() of a _Cycle or _WsCycle that waits for the worker look
    again."""
    for future in (cycle.waiter, cycle.drain):
        if future is not None and not future.done():
            future.set_result(None)


async def _send_body(cycle, message):
    """A response body message on a _Cycle, or on a _WsCycle that refuses its handshake."""
    more = message.get("more_body", False)
    sent = _c.body(cycle.h, message.get("body", b""), more, cycle.streamed)
    while sent is None:  # the socket is full: the worker's loop writes the rest
        cycle.drain = asyncio.get_running_loop().create_future()
        try:
            await cycle.drain
        finally:
            cycle.drain = None
        if cycle.done:
            return  # finished meanwhile: the handle is the worker's again
        sent = _c.drained(cycle.h)
    if not sent:
        cycle.finish(False)  # the client is gone: the worker closes
    elif more:
        cycle.streamed = True
    else:
        cycle.finish(True)


_HTTP = {}  # handle -> _Cycle of the HTTP requests whose response is not complete yet


class _HookedCycle(_Cycle):
    """A _Cycle that notes the response for post_request (only when a hook is defined)."""

    __slots__ = ("status", "headers", "sent")

    def __init__(self, h):
        super().__init__(h)
        self.status, self.headers, self.sent = 500, [], 0  # until the app starts one

    async def send(self, message):
        kind = message["type"]
        if kind == "http.response.start" and not self.started:
            self.status, self.headers = message["status"], list(message.get("headers", ()))
        elif kind == "http.response.body" and not self.done:
            self.sent += len(message.get("body", b""))
        await super().send(message)


async def _run(app, h, state, hooks):
    cycle = _Cycle(h) if hooks is None else _HookedCycle(h)
    req = None
    try:
        scope = _c.scope(h, dict(state) if state is not None else None)
        if scope["type"] == "websocket":
            cycle.done = True  # the WebSocket's own cycle answers for the handle
            return await _run_ws(app, h, scope)
        cycle.task = asyncio.current_task()
        _HTTP[h] = cycle
        if hooks is not None:
            req = hooks[0](scope)  # pre_request, as gunicorn's asgi worker runs it
        await app(scope, cycle.receive, cycle.send)
    except BaseException as e:  # noqa: B036 (the worker must get the call back)
        if cycle.grace is True and isinstance(e, asyncio.CancelledError):
            if not cycle.done:  # ours: the client left and the grace period is over
                _c.log("info", f"Cancelled {scope['method']} {scope['path']}: its client left "
                       "and it ran on past asgi_disconnect_grace_period")
                cycle.finish(False)
        elif not cycle.done:
            cycle.finish(False, traceback.format_exc())
        else:
            _c.log("error", "Exception in ASGI application after its response:\n"
                   + traceback.format_exc())
        if isinstance(e, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            raise
    else:
        if not cycle.done:
            what = ("returned without completing its response" if cycle.started
                    else "returned without starting a response")
            cycle.finish(False, f"the ASGI application {what}")
    finally:
        if req is not None:
            hooks[1](req, cycle.status, cycle.headers, cycle.sent)  # post_request


def serve(app, fd, lifespan_mode, loop_kind, grace, hooks):
    try:
        loop = _new_loop(loop_kind)
    except Exception as e:
        _c.started(False, str(e))
        return
    asyncio.set_event_loop(loop)
    lifespan = _Lifespan(app, lifespan_mode)
    try:
        error = loop.run_until_complete(lifespan.startup())
        if error is not None:
            _c.started(False, error)
            return
        state = lifespan.state if lifespan.running else None
        tasks = set()

        def wake():
            taken = _c.take()
            if taken is None:
                loop.remove_reader(fd)
                loop.stop()
                return
            calls, woken = taken
            for h in calls:
                t = loop.create_task(_run(app, h, state, hooks))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            for h in woken:
                ws = _WS.get(h)
                if ws is not None:
                    ws.wake()
                    continue
                cycle = _HTTP.get(h)
                if cycle is not None:
                    cycle.wake(grace)

        loop.add_reader(fd, wake)
        _c.started(True)
        loop.run_forever()
        # The worker drained its connections: what still runs is work after a response
        # (background tasks); cancel it, then shut the app down.
        for t in list(tasks):
            t.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(lifespan.shutdown())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
)PY";

PyObject* g_serve = nullptr;

}  // namespace

bool load_runtime() {
  Ref globals(PyDict_New());
  if (!globals || PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) != 0) {
    return false;
  }
  // One namespace: the HTTP half's _run calls _run_ws; the WebSocket half uses _send_body and
  // _resolve.
  for (auto [glue, name] : {std::pair{kGlue, "<cppicorn.asgi>"}, {kWsGlue, "<cppicorn.asgi.ws>"}}) {
    Ref code(Py_CompileString(glue, name, Py_file_input));
    if (!code) return false;
    Ref done(PyEval_EvalCode(code.get(), globals.get(), globals.get()));
    if (!done) return false;
  }
  g_serve = PyDict_GetItemString(globals.get(), "serve");  // borrowed, kept by globals
  if (g_serve == nullptr) return false;
  Py_INCREF(g_serve);
  return true;
}

PyObject* serve_fn() { return g_serve; }

}  // namespace cppicorn::asgi
