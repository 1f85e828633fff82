"""The Python-only cost of one ASGI request, for bench/asgi-ceiling: cppicorn's own glue (the
Python source compiled into the plugin, read from src/app/asgi/asgi_glue.cpp) runs an app's
requests on uvloop against a stand-in for the _cppicorn_asgi module whose calls do nothing:
no socket, no parsing, no thread. What is left is the app plus the glue, the floor under any
server's cost per request for that app.
  python3 asgi_pyonly.py SRC_DIR APP_DIR MODULE [REQUESTS]   -> prints microseconds/request"""
import asyncio
import importlib
import re
import sys
import time
import types

src_dir, app_dir, module = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 20000

fake = types.ModuleType("_cppicorn_asgi")
fake.ASGI = {"version": "3.0", "spec_version": "2.3"}
SCOPE = {"type": "http", "asgi": fake.ASGI, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
         "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
         "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")]}
fake.scope = lambda h, state: dict(SCOPE)
fake.read = lambda h: (b"", False)
fake.start = lambda h, status, headers: None
fake.body = lambda h, body, more, streamed: True
fake.end = lambda h, ok, error=None: None
fake.gone = lambda h: False
fake.log = lambda *a: None
sys.modules["_cppicorn_asgi"] = fake

glue = {}
for name in ("asgi_glue.cpp", "asgi_glue_ws.cpp"):
    text = open(f"{src_dir}/src/app/asgi/{name}").read()
    code = re.search(r'R"PY\((.*?)\)PY"', text, re.S).group(1)
    exec(compile(code, name, "exec"), glue)  # noqa: S102 (our own source)

sys.path.insert(0, app_dir)
app = importlib.import_module(module).app
import uvloop  # noqa: E402

loop = uvloop.new_event_loop()


async def burst(count, batch=32):
    t0 = time.perf_counter()
    for first in range(0, count, batch):
        await asyncio.gather(*(loop.create_task(glue["_run"](app, first + i, None, None))
                               for i in range(batch)))
    return (time.perf_counter() - t0) / count * 1e6


loop.run_until_complete(burst(n // 4))  # warm up
print(f"{min(loop.run_until_complete(burst(n)) for _ in range(3)):.1f}")
