"""The asgi worker class (-k asgi) through the real binary: a plain ASGI 3 app
(apps/asgi_plain.py: the scope, body echo, streaming, a 500, http.disconnect, many requests
in flight in one worker), the lifespan protocol (apps/asgi_lifespan.py), and apps from
Debian unchanged: FastAPI (apps/fastapi_app.py) and Starlette with a Mount
(apps/starlette_app.py). Clients: http.client, raw sockets, httpx."""
import json
import os
import signal
import socket
import subprocess
import threading

import pytest

from conftest import RawReader, exchange, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def start(server, app, *args, workers=1, env=None):
    server.start("-w", str(workers), "-k", "asgi", "--app-path", APPS, *args, app=app,
                 env={**ENV, **(env or {})})
    return server


def run_to_exit(server, *args, app):
    from test_lifecycle import run_to_exit as run
    return run(server, "--app-path", APPS, *args, app=app, env=ENV, workers=1, timeout=15)


# -- a plain ASGI app ----------------------------------------------------------------------

@pytest.fixture
def plain(server):
    return start(server, "asgi_plain:app")


def test_scope(plain):
    resp = exchange(plain, b"GET /scope/a%20b/caf%C3%A9?x=1&y=%20 HTTP/1.1\r\n"
                           b"Host: example.com:8080\r\nX-Multi: 1\r\nX-Multi: 2\r\n"
                           b"Accept: */*\r\n\r\n")
    assert resp.status == 200, resp.body
    scope = json.loads(resp.body)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope/a b/caf\u00e9"  # percent-decoded, as UTF-8
    assert scope["raw_path"] == "/scope/a%20b/caf%C3%A9"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    # Lower-cased names, order and repeats kept.
    assert scope["headers"] == [["host", "example.com:8080"], ["x-multi", "1"],
                                ["x-multi", "2"], ["accept", "*/*"]]
    assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
    assert scope["server"] == ["example.com", 8080]
    assert scope["state"] is None  # this app has no lifespan (auto went on without it)
    assert plain.log_has("ASGI 'lifespan' protocol appears unsupported")


def test_root_path_setting(server):
    start(server, "asgi_plain:app", "--root-path", "/mnt/")
    scope = json.loads(server.request("GET", "/mnt/scope/x")[2])
    assert (scope["root_path"], scope["path"]) == ("/mnt", "/scope/x")


def test_http_10(plain):
    resp = exchange(plain, b"GET /scope HTTP/1.0\r\n\r\n")
    assert json.loads(resp.body)["http_version"] == "1.0"


def test_body_echo_small_and_large(plain):
    status, headers, body = plain.request("POST", "/echo", body=b"hello")
    assert (status, body, headers["x-events"]) == (200, b"hello", "1")
    big = os.urandom(300_000)  # past the 64 KiB pre-read: read in chunks, more_body between
    status, headers, body = plain.request("POST", "/echo", body=big)
    assert status == 200 and body == big
    assert int(headers["x-events"]) > 1
    assert headers["Content-Length"] == str(len(big))


def test_chunked_request_body(plain):
    resp = exchange(plain, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"hello world")


def test_expect_continue(plain):
    import socket
    with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"data")
        data = b""
        while not data.endswith(b"data"):
            data += s.recv(1000)
        assert data.startswith(b"HTTP/1.1 200")


def test_streamed_response_is_chunked(plain):
    resp = exchange(plain, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200
    assert resp.header("Transfer-Encoding") == "chunked"
    assert resp.body == b"part 0\npart 1\npart 2\n"


def test_keep_alive_across_requests(plain):
    conn = plain.connection()
    try:
        for path in ("/scope", "/stream", "/scope"):
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
    finally:
        conn.close()


def test_exception_is_500_and_worker_lives(plain):
    pid_before = plain.workers()
    status, _, body = plain.request("GET", "/boom")
    assert status == 500
    assert b"boom" not in body  # the traceback goes to the log, not the client
    wait_for(lambda: plain.log_has("ValueError: boom from the app"), what="traceback logged")
    assert plain.request("GET", "/scope")[0] == 200
    assert plain.workers() == pid_before


def test_disconnect_after_response_and_send_is_a_noop(plain):
    status, _, body = plain.request("POST", "/disconnect", body=b"x")
    assert (status, body) == (200, b"pending")  # receive() waited for the response
    assert plain.request("GET", "/scope")[0] == 200
    assert not plain.log_has("Exception in ASGI application")


def test_many_requests_in_flight_in_one_worker(plain):
    # Each request waits on one asyncio.Event that only the Nth arrival sets: they can only
    # all finish if all N are in flight in the one worker at the same time.
    n = 20
    results, errors = [], []

    def one():
        try:
            results.append(plain.request("GET", f"/barrier/{n}", timeout=15))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    assert [r[0] for r in results] == [200] * n
    assert len({r[2] for r in results}) == 1  # one worker served them all


def listen_queue(port):
    """Connections waiting in the listen socket's accept queue (ss: Recv-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[1]) if out else 0


def test_worker_connections_caps_calls(server, tmp_path):
    # worker_connections 2: while two requests are held in the app, a third client waits in
    # the listen queue (not accepted); it is served only after one of them finished.
    release = str(tmp_path / "release")
    start(server, "asgi_plain:app", "--worker-connections", "2",
          env={"CPPICORN_TEST_RELEASE": release})
    results = {}

    def one(name, path):
        results[name] = server.request("GET", path, timeout=20)[2]

    held = [threading.Thread(target=one, args=(i, "/hold")) for i in range(2)]
    for t in held:
        t.start()
    def held_in_app():
        try:
            with open(release + ".held") as f:
                return f.read() == "2"
        except FileNotFoundError:
            return False

    wait_for(held_in_app, what="two requests held in the app")
    probe = threading.Thread(target=one, args=("probe", "/probe"))
    probe.start()
    wait_for(lambda: listen_queue(server.port) == 1, what="the third client in the listen queue")
    open(release, "w").close()
    for t in [*held, probe]:
        t.join(20)
    assert results[0] == results[1] == b"held"
    assert int(results["probe"]) < 2  # it ran after a held request had finished


# -- boot: the wrong worker class, a lifespan app ---------------------------------------

def test_async_app_without_asgi_fails_boot(server):
    code, log = run_to_exit(server, app="asgi_plain:app")
    assert code == 4, log
    assert "it is an ASGI app (its call is a coroutine); run it with -k asgi" in log


def test_native_app_with_asgi_fails_boot(server):
    from test_lifecycle import run_to_exit as run
    code, log = run(server, "-k", "asgi", app="hello:app", workers=1, timeout=15)
    assert code == 4, log
    assert "it is not an ASGI app" in log


def test_lifespan_startup_state_and_shutdown(server, tmp_path):
    marks = str(tmp_path / "marks")
    start(server, "asgi_lifespan:app", env={"CPPICORN_TEST_MARKS": marks})
    # The worker served only after startup: the marker is there when the first answer is.
    assert os.path.exists(marks + ".startup")
    body = json.loads(server.request("GET", "/")[2])
    assert body["state"] == {"greeting": "hello from startup"}
    assert not os.path.exists(marks + ".shutdown")
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    with open(marks + ".shutdown") as f:
        assert int(f.read()) == int(open(marks + ".startup").read())


def test_lifespan_startup_failure_exits_4(server, tmp_path):
    from test_lifecycle import run_to_exit as run
    code, log = run(server, "-k", "asgi", "--app-path", APPS, app="asgi_lifespan:app",
                    env={**ENV, "CPPICORN_TEST_FAIL_STARTUP": "1",
                         "CPPICORN_TEST_MARKS": str(tmp_path / "m")},
                    workers=1, timeout=15)
    assert code == 4, log
    assert "lifespan startup failed: the database is not there" in log


def test_lifespan_on_requires_it(server):
    code, log = run_to_exit(server, "-k", "asgi", "--asgi-lifespan", "on",
                            app="asgi_plain:app")
    assert code == 4, log
    assert "lifespan startup raised" in log and "this app does not do lifespan" in log


def test_lifespan_off_never_sends_it(server):
    start(server, "asgi_plain:app", "--asgi-lifespan", "off")
    assert server.request("GET", "/scope")[0] == 200
    assert not server.log_has("lifespan' protocol appears unsupported")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_asgi_loop(server, loop):
    pytest.importorskip(loop)
    start(server, "asgi_plain:app", "--asgi-loop", loop)
    assert server.request("GET", "/stream")[2] == b"part 0\npart 1\npart 2\n"


def test_bad_asgi_loop_value(server):
    code, log = run_to_exit(server, "-k", "asgi", "--asgi-loop", "trio", app="asgi_plain:app")
    assert code != 0
    assert "expected auto, asyncio, uvloop, got 'trio'" in log


def test_uvicorn_worker_class_name(server):
    server.start("-w", "1", "-k", "uvicorn.workers.UvicornWorker", "--app-path", APPS,
                 app="asgi_plain:app", env=ENV)
    assert server.request("GET", "/scope")[0] == 200


# -- FastAPI and Starlette from Debian ------------------------------------------------------

@pytest.fixture
def fastapi_server(server):
    pytest.importorskip("fastapi")
    return start(server, "fastapi_app:app", workers=2)


def test_fastapi_params_dependency_and_startup(fastapi_server):
    import httpx
    base = f"http://127.0.0.1:{fastapi_server.port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        r = client.get("/items/42", params={"q": "caf\u00e9"}, headers={"X-Caller": "tester"})
        assert r.status_code == 200
        assert r.json() == {"item_id": 42, "q": "caf\u00e9", "who": "TESTER", "started": 1}
        assert client.get("/items/notanint").status_code == 422
        r = client.post("/items", json={"name": "pen", "price": 1.25, "tags": ["a"]})
        assert r.json() == {"name": "pen", "total": 2.5, "tags": ["a"]}
        assert client.get("/sync").json() == {"thread": "pool"}  # a def endpoint (anyio pool)
        r = client.get("/stream")
        assert r.text == "0\n1\n2\n3\n4\n"
        assert r.headers["transfer-encoding"] == "chunked"
        assert client.get("/boom").status_code == 500
        assert client.get("/items/1").status_code == 200  # the worker lives on
        assert client.get("/openapi.json").json()["info"]["title"] == "FastAPI"


def progress(server):
    status, _, body = server.request("GET", "/progress")
    assert status == 200
    return json.loads(body)


@pytest.mark.parametrize("framing", ["length", "expect", "chunked"])
def test_slow_upload_never_holds_the_loop(server, framing):
    # The app waits for body bytes that are not sent yet: the worker's loop reads them, and
    # the app's loop serves other requests meanwhile (a blocking read held it for up to
    # body_timeout, and every request of the worker with it).
    start(server, "asgi_plain:app", "--body-timeout", "120")
    first, rest = os.urandom(150_000), os.urandom(150_000)
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\n" + {
        "length": b"Content-Length: 300000\r\n\r\n",
        "expect": b"Content-Length: 300000\r\nExpect: 100-continue\r\n\r\n",
        "chunked": b"Transfer-Encoding: chunked\r\n\r\n"}[framing]
    chunked = framing == "chunked"
    frame = (lambda b: b"%x\r\n%s\r\n" % (len(b), b)) if chunked else (lambda b: b)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        if framing == "expect":  # the body only after the app's first receive() asked for it
            s.sendall(head)
            got = b""
            while not got.endswith(b"\r\n\r\n"):
                got += s.recv(1)
            assert got == b"HTTP/1.1 100 Continue\r\n\r\n"
            head = b""
        s.sendall(head + frame(first))
        wait_for(lambda: progress(server)["received"] == len(first), what="the first part")
        assert progress(server)["done"] is False  # still waiting, and others are served
        s.sendall(frame(rest) + (b"0\r\n\r\n" if chunked else b""))
        resp = RawReader(s).read_response("POST")
    assert resp.status == 200 and resp.body == b"300000"


def test_slow_reader_never_holds_the_loop(server):
    # A client that does not read a large streamed response: the app's send() waits (the
    # worker's loop writes behind the full socket) and other requests are served meanwhile;
    # a blocking write held the app's loop, and every request of the worker, for up to
    # body_timeout. /progress can see in_send only while a send() is suspended.
    start(server, "asgi_plain:app", "--body-timeout", "120")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", server.port))
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: progress(server)["in_send"], what="a send() that waits")
        resp = RawReader(s).read_response()
    assert resp.status == 200 and len(resp.body) == 64 * 262144
    assert all(resp.body[i * 262144] == i for i in range(64))
    assert resp.body == b"".join(bytes([i]) * 262144 for i in range(64))


def test_client_leaving_during_a_call_is_http_disconnect(server):
    # The app neither reads nor writes (a long poll): the worker's loop sees the close and
    # the app's receive() returns http.disconnect (it waited for the response's end).
    start(server, "asgi_plain:app")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /until-gone HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: progress(server)["waiting"], what="the app in receive()")
        assert progress(server)["gone"] is None
    wait_for(lambda: progress(server)["gone"] == "http.disconnect", what="http.disconnect")
    assert server.request("GET", "/scope")[0] == 200


def test_client_gone_mid_upload_is_http_disconnect(server):
    start(server, "asgi_plain:app")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"
                  + os.urandom(100_000))
        wait_for(lambda: progress(server)["received"] == 100_000, what="the first part")
    wait_for(lambda: progress(server)["disconnected"], what="http.disconnect in the app")
    assert progress(server)["done"] is False
    assert server.request("GET", "/scope")[0] == 200  # the worker serves on


def test_blocked_event_loop_is_killed_by_timeout_and_named(server):
    start(server, "asgi_plain:app", "--timeout", "2")
    (first,) = server.wait_workers(1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server.log_has("WORKER TIMEOUT"), 30, what="the worker timeout")
        assert s.recv(65536) == b""  # the worker died with it
    assert ('serving "the asyncio loop, blocked since GET /block HTTP/1.1 started"'
            in server.log())
    wait_for(lambda: server.workers() - {first}, 30, what="a new worker")
    assert server.request("GET", "/scope")[0] == 200


def test_long_poll_is_not_a_timeout(server):
    # The coroutine awaits for longer than timeout: the loop comes back all along.
    start(server, "asgi_plain:app", "--timeout", "1")
    (worker,) = server.wait_workers(1)
    status, _, body = server.request("GET", "/nap?3", timeout=30)
    assert (status, body) == (200, b"rested")
    assert "WORKER TIMEOUT" not in server.log() and server.workers() == {worker}


def test_django_get_asgi_application(server):
    # Django 3.2 from Debian, its project served as its ASGI deployment docs write it.
    server.start("-w", "1", "-k", "asgi", "--chdir", APPS, app="mysite.asgi", env=ENV)
    status, _, body = server.request("GET", "/")
    assert status == 200 and body == b"Hello from Django at /"
    assert server.request("GET", "/gone")[0] == 410
    assert server.request("GET", "/async")[2] == b"awaited at /async"
    big = os.urandom(300_000)  # more than one http.request event
    status, _, body = server.request("POST", "/size", body=big)
    assert status == 200 and body == b"300000"
    assert server.request("GET", "/missing")[0] == 404


def test_starlette_mount_and_root_path(server):
    pytest.importorskip("starlette")
    start(server, "starlette_app:app", "--root-path", "/prefix")
    status, _, body = server.request("GET", "/prefix/")
    assert (status, body) == (200, b"home")
    got = json.loads(server.request("GET", "/prefix/api/users/ann", headers={"Host": "h"})[2])
    # Debian 12's Starlette 0.26 routes on a path without root_path (uvicorn 0.17's
    # convention): the Mount adds its prefix to root_path and takes it off the path.
    assert got["name"] == "ann"
    assert got["root_path"] == "/prefix/api"
    assert got["path"] == "/users/ann"
    assert got["url"] == "http://h/prefix/api/users/ann"
