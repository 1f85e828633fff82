"""Python WSGI apps through the WSGI plugin: gunicorn's tutorial app (examples/myapp.py), a
test app run under wsgiref.validate.validator (apps/wsgi_checked.py), a Flask app
(apps/flaskapp.py) and apps that cannot load."""
import json
import os
import shutil
import signal
import socket

import pytest

from conftest import RawReader, exchange, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}  # no __pycache__ in the source tree


def get(conn, path, method="GET", body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp, resp.read()


@pytest.fixture
def checked(server):
    server.start("-w", "2", "--app-path", APPS, app="wsgi_checked:app", env=ENV)
    return server


# -- gunicorn's tutorial app -------------------------------------------------------------------

def test_tutorial_app(server):
    server.start("-w", "2", app="myapp:app", env=ENV)
    resp = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200
    assert resp.body == b"Hello, World!\n"
    assert resp.header("Content-Length") == "14"
    assert resp.header("Content-Type") == "text/plain"
    assert resp.header("Transfer-Encoding") is None


# -- PEP 3333 under wsgiref.validate -----------------------------------------------------------

def test_environ(checked):
    resp = exchange(checked, b"GET /environ/a%20b%2Fc%C3%A9?a=1&b=%20 HTTP/1.1\r\n"
                             b"Host: example.com:8080\r\nX-Multi: 1\r\nX-Multi: 2\r\n"
                             b"Content-Type: text/x\r\nAccept: */*\r\n\r\n")
    assert resp.status == 200, resp.body
    env = json.loads(resp.body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ/a b/c\u00c3\u00a9"  # decoded bytes, as latin-1
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["RAW_URI"] == "/environ/a%20b%2Fc%C3%A9?a=1&b=%20"
    assert env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_SOFTWARE"].startswith("cppicorn/")
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert int(env["REMOTE_PORT"]) > 0
    assert env["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    assert env["HTTP_X_MULTI"] == "1,2"
    assert env["HTTP_ACCEPT"] == "*/*"
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is False
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.run_once"] is False


def test_script_name_from_environment(server):
    server.start("-w", "1", "--app-path", APPS, app="wsgi_checked:app",
                 env={**ENV, "SCRIPT_NAME": "/mount/"})
    env = json.loads(server.request("GET", "/mount/environ/x")[2])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/mount", "/environ/x")


def test_post_content_length_body(checked):
    body = os.urandom(300_000)  # beyond what the worker reads before the app runs
    status, headers, got = checked.request("POST", "/echo", body=body)
    assert status == 200
    assert got == body


def test_post_chunked_body(checked):
    chunks = [b"hello ", b"chunked ", b"world" * 5000]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    resp = exchange(checked, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n" + wire)
    assert resp.status == 200
    assert resp.body == b"".join(chunks)


def test_readline_readlines_iteration(checked):
    status, _, got = checked.request("POST", "/lines", body=b"alpha\nbravo\ncharlie\ndelta\necho")
    assert status == 200
    assert json.loads(got) == ["alpha\n", "bra", "vo\n", "charlie\n", "delta\n", "echo"]


def test_write_callable_streams(checked):
    resp = exchange(checked, b"GET /write HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200
    assert resp.header("Transfer-Encoding") == "chunked"
    assert resp.body == b"first,second,third"


@pytest.mark.parametrize("path,body", [("/generator", b"one,two,three"),
                                       ("/closing", b"ab")])
def test_result_closed(checked, path, body):
    conn = checked.connection()  # one keep-alive connection: one worker
    resp, got = get(conn, path)
    assert (resp.status, got) == (200, body)
    resp, got = get(conn, "/closed")
    assert path.strip("/") in json.loads(got)
    conn.close()


def test_app_content_length_frames_streamed_body(checked):
    conn = checked.connection()
    resp, got = get(conn, "/declared")
    assert resp.status == 200
    assert resp.getheader("Content-Length") == "13"
    assert resp.getheader("Transfer-Encoding") is None
    assert got == b"one,two,three"
    resp, got = get(conn, "/declared", method="HEAD")  # length announced, no body
    assert resp.getheader("Content-Length") == "13" and got == b""
    resp, got = get(conn, "/write")  # the connection is still in sync
    assert got == b"first,second,third"
    conn.close()


def test_app_content_length_too_long_closes_connection(checked):
    with socket.create_connection(("127.0.0.1", checked.port), timeout=10) as s:
        s.sendall(b"GET /declared-wrong?20 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        _, headers = r.read_head()
        assert dict(headers)["Content-Length"] == "20"
        assert r.read_to_close() == b"one,two,three"  # 13 bytes, then the close
    wait_for(lambda: checked.log_has("7 bytes short of its Content-Length"), 5, what="warning")


def test_app_content_length_too_short_truncates(checked):
    resps = exchange(checked, b"GET /declared-wrong?6 HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET /write HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    assert resps[0].body == b"one,tw"
    assert resps[1].body == b"first,second,third"  # the connection stayed in sync


def test_head_request(checked):
    """HEAD gets GET's headers and no body: the pipelined GET's response starts right after
    the HEAD's head (a leaked body would be read as its status line)."""
    with socket.create_connection(("127.0.0.1", checked.port), timeout=10) as s:
        s.sendall(b"HEAD /write HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = RawReader(s)
        head = r.read_response("HEAD")
        assert head.status == 200
        assert r.buf.startswith(b"HTTP/1.1 200 ") or r.buf == b"", r.buf[:80]
        get_resp = r.read_response()
        assert get_resp.status_line.startswith("HTTP/1.1 200 "), get_resp.status_line
        assert get_resp.body == b"first,second,third"
        assert r.at_eof()


def test_keepalive_several_requests_one_worker(checked):
    conn = checked.connection()
    pids = set()
    for i in range(5):
        resp, got = get(conn, "/echo", method="POST", body=b"n%d" % i)
        assert (resp.status, got) == (200, b"n%d" % i)
        resp, got = get(conn, "/pids")
        pids.add(json.loads(got)["pid"])
    assert len(pids) == 1
    conn.close()


def test_exception_is_500_and_worker_lives(checked):
    workers = checked.wait_workers(2)
    status, _, body = checked.request("GET", "/error")
    assert status == 500
    log = checked.log()
    assert "Traceback (most recent call last)" in log
    assert "ValueError: boom from the app" in log
    assert "Error handling request GET /error" in log
    for _ in range(4):
        assert checked.request("GET", "/pids")[0] == 200
    assert checked.workers() == workers


def test_exception_after_head_closes_connection(checked):
    with socket.create_connection(("127.0.0.1", checked.port), timeout=10) as s:
        s.sendall(b"GET /error-in-body HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        status_line, headers = r.read_head()
        assert status_line.startswith("HTTP/1.1 200")
        rest = r.read_to_close()  # closed without the last chunk
    assert b"partial" in rest and not rest.endswith(b"0\r\n\r\n")
    wait_for(lambda: checked.log_has("ZeroDivisionError: fails half way"), 5, what="traceback")
    assert checked.request("GET", "/pids")[0] == 200


def test_exc_info_replaces_response_before_head(checked):
    status, _, body = checked.request("GET", "/exc-info")
    assert (status, body) == (503, b"replaced")


def test_exc_info_after_head_reraises(checked):
    with socket.create_connection(("127.0.0.1", checked.port), timeout=10) as s:
        s.sendall(b"GET /exc-info-late HTTP/1.1\r\nHost: x\r\n\r\n")
        r = RawReader(s)
        status_line, _ = r.read_head()
        rest = r.read_to_close()
    assert status_line.startswith("HTTP/1.1 200")
    assert b"partial" in rest and b"never" not in rest
    wait_for(lambda: checked.log_has("KeyError: 'too late'"), 5, what="traceback")


def test_start_response_twice_without_exc_info_fails(checked):
    assert checked.request("GET", "/again")[0] == 500
    assert "start_response() called again without exc_info" in checked.log()


def test_no_content(checked):
    resp = exchange(checked, b"GET /nobody HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 204 and resp.body == b""


def test_wsgi_errors_to_error_log(checked):
    assert checked.request("GET", "/errors")[2] == b"logged"
    log = checked.log()
    assert "a line for the error log" in log and "two parts" in log


def test_file_wrapper_iterated_under_validator(checked, tmp_path):
    data = os.urandom(100_000)
    (tmp_path / "f.bin").write_bytes(data)
    status, headers, got = checked.request("GET", "/file?" + str(tmp_path / "f.bin"))
    assert status == 200 and got == data[5:]


def read_syscalls(pid):
    with open(f"/proc/{pid}/io") as f:
        return int(next(x for x in f if x.startswith("syscr:")).split()[1])


def test_file_wrapper_sendfile(server, tmp_path):
    server.start("-w", "1", "--app-path", APPS, app="wsgi_checked:plain", env=ENV)
    data = os.urandom(3 * 1024 * 1024 + 7)
    (tmp_path / "f.bin").write_bytes(data)
    (worker,) = server.wait_workers(1)
    before = read_syscalls(worker)
    status, headers, got = server.request("GET", "/file?" + str(tmp_path / "f.bin"))
    reads = read_syscalls(worker) - before
    print(f"3 MiB through file_wrapper: {reads} read syscalls in the worker")
    assert status == 200
    assert headers.get("Content-Length") == str(len(data) - 5)
    # sendfile: the kernel copies it; read()ing it in 4 KiB blocks would be ~800 calls.
    assert reads < 100, reads
    assert got == data[5:]
    status, headers, got = server.request("HEAD", "/file?" + str(tmp_path / "f.bin"))
    assert headers.get("Content-Length") == str(len(data) - 5) and got == b""


def test_app_threads_run_between_requests(server, tmp_path):
    """An app thread keeps running while the worker waits for the next request (the worker
    does not hold the GIL when idle): its ticks advance with no request in flight."""
    tick_file = tmp_path / "ticks"
    server.start("-w", "1", "--app-path", APPS, app="wsgi_checked:app",
                 env={**ENV, "TICK_FILE": str(tick_file)})
    conn = server.connection()
    get(conn, "/thread")
    _, first = get(conn, "/ticks")
    # No request from here until the ticks have moved on by 20.
    wait_for(lambda: tick_file.exists() and int(tick_file.read_text() or 0) >= json.loads(first) + 20,
             what="ticks advancing while the worker is idle")
    _, second = get(conn, "/ticks")
    assert json.loads(second) >= json.loads(first) + 20
    conn.close()


# -- lifecycle ---------------------------------------------------------------------------------

RELOADABLE = """
import atexit, os
VERSION = {version!r}
atexit.register(lambda: open(os.environ["ATEXIT_FILE"], "a").write(f"exit {{os.getpid()}}\\n"))

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def test_reload_picks_up_new_code_and_atexit_runs(server, tmp_path):
    appdir = tmp_path / "site"
    appdir.mkdir()
    (appdir / "reloadable.py").write_text(RELOADABLE.format(version="v1"))
    atexit_file = str(tmp_path / "atexit.txt")
    server.start("-w", "2", "--app-path", str(appdir), app="reloadable:app",
                 env={**ENV, "ATEXIT_FILE": atexit_file})
    old = server.wait_workers(2)
    assert server.request("GET", "/")[2] == b"v1"
    (appdir / "reloadable.py").write_text(RELOADABLE.format(version="v2"))
    server.signal(signal.SIGHUP)  # new workers import the module again
    wait_for(lambda: server.request("GET", "/")[2] == b"v2" and not (server.workers() & old),
             15, what="the new generation serving v2")
    # The old workers stopped gracefully: the interpreter finalized, atexit handlers ran.
    with open(atexit_file) as f:
        assert sorted(f.read().split()[1::2]) == sorted(str(p) for p in old)


# -- loading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_preload_imports_once_in_master(server, preload):
    server.start("-w", "2", "--app-path", APPS, *(["--preload"] if preload else []),
                 app="wsgi_checked:app", env=ENV)
    pids = json.loads(server.request("GET", "/pids")[2])
    assert pids["pid"] in server.workers()
    assert pids["import"] == (server.proc.pid if preload else pids["pid"])


def run_to_exit(server, *args, app, workers=2):
    """test_lifecycle's run_to_exit with the test apps on the path."""
    from test_lifecycle import run_to_exit as run
    return run(server, "--app-path", APPS, *args, app=app, env=ENV, workers=workers, timeout=15)


@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_broken_import_exits_4_with_traceback(server, preload):
    code, log = run_to_exit(server, *(["--preload"] if preload else []),
                            app="broken_import:app")
    assert code == 4, log
    assert "cannot load app 'broken_import:app': importing broken_import failed" in log
    assert "Traceback (most recent call last)" in log
    assert "ModuleNotFoundError: No module named 'no_such_module_for_cppicorn_tests'" in log
    booted = log.count("Booting worker")
    assert booted == 0 if preload else 1 <= booted <= 2, log  # no respawn loop


def test_missing_callable_exits_4(server):
    code, log = run_to_exit(server, app="myapp:nope")
    assert code == 4, log
    assert "no 'nope' in module myapp" in log


def test_not_callable_exits_4(server):
    code, log = run_to_exit(server, app="wsgi_checked:CLOSED")
    assert code == 4, log
    assert "'CLOSED' is a list, not a WSGI callable" in log


def test_without_the_plugin_names_the_package(server, tmp_path):
    """The server installed without its Python plugin (the Debian package cppicorn without
    cppicorn-python3): a Python app stops the boot, and the message names the package."""
    bindir = tmp_path / "bin"  # no ../lib/cppicorn/wsgi.so, no wsgi.so next to it
    bindir.mkdir()
    shutil.copy2(server.binary, bindir / "cppicorn")
    server.binary = str(bindir / "cppicorn")
    code, log = run_to_exit(server, app="myapp:app")
    assert code == 4, log
    assert ("cannot load app 'myapp:app': it is a Python module, but Python support "
            "(wsgi.so) is not installed: apt install cppicorn-python3") in log
    assert "Traceback" not in log  # no interpreter was started to find that out


# -- Flask -------------------------------------------------------------------------------------

def test_flask_app(server):
    server.start("-w", "2", "--app-path", APPS, app="flaskapp:app", env=ENV)
    status, headers, body = server.request("GET", "/")
    assert (status, body) == (200, b"Hello from Flask")
    status, headers, body = server.request("HEAD", "/")  # Werkzeug gives no body, a length
    assert (status, headers["Content-Length"], body) == (200, "16", b"")
    status, _, body = server.request("POST", "/json", body=json.dumps({"a": [1, 2]}),
                                     headers={"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {"got": {"a": [1, 2]}, "length": 13}
    status, _, body = server.request("POST", "/form", body="x=1&y=two",
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
    assert json.loads(body) == {"x": "1", "y": "two"}
    status, _, body = server.request("GET", "/user/j%C3%BCrgen?q=1")
    assert json.loads(body) == {"name": "j\u00fcrgen", "args": {"q": "1"}}
    assert server.request("GET", "/missing")[0] == 404
    # A chunked body: Flask reads it through wsgi.input_terminated.
    payload = json.dumps({"chunked": True}).encode()
    resp = exchange(server, b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                            b"\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                            % (len(payload), payload))
    assert json.loads(resp.body) == {"got": {"chunked": True}, "length": len(payload)}


def test_app_factory(server):
    server.start("-w", "1", "--app-path", APPS, app="flaskapp:create_app()", env=ENV)
    assert server.request("GET", "/")[2] == b"Hello from Flask"


def test_flask_c_extensions_load(server):
    """Extension modules resolve libpython's symbols globally (the plugin is RTLD_GLOBAL)."""
    server.start("-w", "1", "--app-path", APPS, app="flaskapp:app", env=ENV)
    status, _, body = server.request("GET", "/modules")
    assert status == 200, server.log()
    loaded = json.loads(body)
    assert "_json" in loaded
    import importlib.util
    if importlib.util.find_spec("markupsafe._speedups"):  # Debian's python3-markupsafe has it
        assert "markupsafe._speedups" in loaded
