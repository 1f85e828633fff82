"""What a gunicorn user's app sees must not change with the command name (issue 16): reason
phrases, wsgi.file_wrapper under the app's Content-Length, app factories with literal
arguments, bare modules (Django's `mysite.wsgi`), and the parser where gunicorn 26 differed.
Real apps (Flask, Django from Debian) through the installed binary and real clients."""
import os

import pytest

from conftest import exchange

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


def status_line(server, path, method="GET", headers=b""):
    resp = exchange(server, f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + headers +
                    b"\r\n", method=method)
    return resp.status_line, resp


# -- reason phrases ----------------------------------------------------------------------------

def test_flask_abort_410_and_send_file_416_keep_their_phrases(server, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    server.start("-w", "1", "--app-path", APPS, app="flaskapp:app", env=ENV)
    line, _ = status_line(server, "/gone")
    assert line == "HTTP/1.1 410 GONE"  # werkzeug's own phrase, passed through
    line, resp = status_line(server, f"/file?path={tmp_path / 'f.bin'}",
                             headers=b"Range: bytes=5000-6000\r\n")
    assert line == "HTTP/1.1 416 REQUESTED RANGE NOT SATISFIABLE"
    line, _ = status_line(server, "/custom")
    assert line == "HTTP/1.1 299 Custom Reason"


def test_wsgi_reason_passed_through_and_ctl_refused(server):
    server.start("-w", "1", "--app-path", APPS, app="compat_wsgi", env=ENV)
    assert status_line(server, "/reason?299+Custom+Reason")[0] == "HTTP/1.1 299 Custom Reason"
    assert status_line(server, "/reason?200")[0] == "HTTP/1.1 200 OK"  # no phrase: the table's
    line, resp = status_line(server, "/ctl")
    assert line == "HTTP/1.1 500 Refused"
    assert b"control character" in resp.body
    assert resp.header("X-Injected") is None


def test_native_set_reason(server):
    server.start("-w", "1", app="diag:app")
    assert status_line(server, "/status?code=299&reason=Custom+Reason")[0] == \
        "HTTP/1.1 299 Custom Reason"
    # CR LF (and any other CTL) is refused by the host API: the app sees -1 and answers 400.
    line, resp = status_line(server, "/status?code=200&reason=a%0d%0aX-Injected:%201")
    assert line == "HTTP/1.1 400 Bad Request" and resp.body == b"bad reason\n"
    assert resp.header("X-Injected") is None
    line, resp = status_line(server, "/status?code=200&reason=tab%09and%01ctl")
    assert resp.body == b"bad reason\n"


@pytest.mark.parametrize("code,phrase", [
    (203, "Non-Authoritative Information"), (207, "Multi-Status"), (226, "IM Used"),
    (402, "Payment Required"), (406, "Not Acceptable"), (410, "Gone"),
    (412, "Precondition Failed"), (416, "Range Not Satisfiable"), (421, "Misdirected Request"),
    (425, "Too Early"), (451, "Unavailable For Legal Reasons"), (507, "Insufficient Storage"),
    (511, "Network Authentication Required"), (299, "Unknown")])
def test_registry_phrases(server, code, phrase):
    server.start("-w", "1", app="diag:app")
    assert status_line(server, f"/status?code={code}")[0] == f"HTTP/1.1 {code} {phrase}"


# -- wsgi.file_wrapper and Content-Length ------------------------------------------------------

def test_file_wrapper_sends_no_more_than_content_length(server, tmp_path):
    data = os.urandom(5 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    server.start("-w", "1", "--app-path", APPS, app="compat_wsgi", env=ENV)
    # Two on one connection: a byte too many would be read as the second response.
    path = f"/wrapped?{tmp_path / 'big.bin'}&1000&100"
    got = exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 2, count=2)
    for resp in got:
        assert resp.status == 206 and resp.header("Content-Length") == "100"
        assert resp.body == data[1000:1100]


def test_flask_range_sends_only_its_range(server, tmp_path):
    data = os.urandom(1024 * 1024)
    (tmp_path / "f.bin").write_bytes(data)
    server.start("-w", "1", "--app-path", APPS, app="flaskapp:app", env=ENV)
    req = (f"GET /file?path={tmp_path / 'f.bin'} HTTP/1.1\r\nHost: x\r\n"
           "Range: bytes=100-199\r\n\r\n").encode()
    first, second = exchange(server, req * 2, count=2)
    for resp in (first, second):
        assert resp.status == 206
        assert resp.header("Content-Range") == f"bytes 100-199/{len(data)}"
        assert resp.body == data[100:200]


# -- app references ----------------------------------------------------------------------------

def test_factory_with_literal_arguments(server):
    server.start("-w", "1", "--app-path", APPS,
                 app='compat_wsgi:create_app("hi there", punctuation="?")', env=ENV)
    assert server.request("GET", "/")[2] == b"hi there?"


def test_flask_factory_with_keyword(server):
    server.start("-w", "1", "--app-path", APPS, app='flaskapp:create_app(greeting="hi")',
                 env=ENV)
    assert server.request("GET", "/greeting")[2] == b"hi"


@pytest.mark.parametrize("ref,message", [
    ("compat_wsgi:create_app(greeting=open)", "arguments must be literals"),
    ("compat_wsgi:create_app(", "cannot parse"),
    ("compat_wsgi:a.b", "cannot parse"),
    ("compat_wsgi:create_app(nope=1)", "create_app() failed"),
])
def test_bad_factory_reference_exits_4(server, ref, message):
    server.start("-w", "1", "--app-path", APPS, app=ref, env=ENV, wait=False)
    assert server.wait_exit() == 4
    assert message in server.log()


def test_bare_module_is_its_application(server):
    server.start("-w", "1", "--app-path", APPS, app="compat_wsgi", env=ENV)
    assert status_line(server, "/reason?200+OK")[0] == "HTTP/1.1 200 OK"


def test_django_project_as_its_docs_write_it(server):
    server.start("-w", "1", "--chdir", APPS, app="mysite.wsgi", env=ENV)
    status, headers, body = server.request("GET", "/")
    assert status == 200 and body == b"Hello from Django at /"
    assert status_line(server, "/gone")[0] == "HTTP/1.1 410 Gone"


def test_native_bare_module_still_exports_app(server):
    server.start("-w", "1", app="hello")
    assert server.request("GET", "/")[2] == b"Hello, World!\n"


# -- parser: gunicorn 26's corpus ------------------------------------------------------------

def test_raw_non_ascii_target_reaches_path_info_as_latin1(server):
    server.start("-w", "1", "--app-path", APPS, app="compat_wsgi", env=ENV)
    resp = exchange(server, b"GET /environ/caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200
    env = eval(resp.body.decode())  # noqa: S307 - our own app's repr()
    assert env["PATH_INFO"] == "/environ/caf\u00c3\u00a9"
    assert env["QUERY_STRING"] == "q=\u00ff"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/environ/caf\u00e9"


def test_second_content_type_refused(server):
    server.start("-w", "1", app="diag:app")
    resp = exchange(server, b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\n"
                            b"Content-Type: c/d\r\nContent-Length: 0\r\n\r\n", expect_close=True)
    assert resp.status == 400
    assert server.request("GET", "/")[0] == 200  # the worker lives on


def test_field_size_limit_counts_crlf(server):
    server.start("-w", "1", "--limit-request-field_size", "20", app="diag:app")
    at_limit = b"X-A: " + b"v" * 13  # 18 bytes + CRLF = 20
    assert exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + at_limit + b"\r\n\r\n").status == 200
    over = at_limit + b"v"
    resp = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + over + b"\r\n\r\n")
    assert resp.status == 431


# -- gunicorn's settings through the binary ----------------------------------------------------

def test_env_root_path_and_method_flags(server):
    server.start("-w", "1", "--app-path", APPS, "-e", "FROM_FLAG=a=b", "--root-path", "/mnt",
                 "--permit-unconventional-http-method", "--casefold-http-method",
                 "--strip-header-spaces", app="compat_wsgi:env_app", env=ENV)
    resp = exchange(server, b"get /mnt/x HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n")
    assert resp.status == 200, resp.body
    env = eval(resp.body.decode())  # noqa: S307 - our own app's repr()
    assert env == {"FROM_FLAG": "a=b", "SCRIPT_NAME": "/mnt", "PATH_INFO": "/x", "METHOD": "GET"}


def forwarded(server, path, headers):
    resp = exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + headers + b"\r\n")
    return resp.status, resp.body.decode()


def test_forwarder_headers_let_a_trusted_proxy_mount_the_app(server):
    sent = b"SCRIPT_NAME: /app\r\nREMOTE_USER: alice\r\nX_Other: 1\r\n"
    server.start("-w", "1", "--app-path", APPS, app="compat_wsgi", env=ENV)
    # gunicorn's default list, SCRIPT_NAME and PATH_INFO; other names with '_' are dropped.
    status, body = forwarded(server, "/app/forwarded", sent)
    assert status == 200 and eval(body) == {  # noqa: S307 - our own app's repr()
        "SCRIPT_NAME": "/app", "PATH_INFO": "/forwarded", "HTTP_REMOTE_USER": None,
        "HTTP_X_OTHER": None}
    # A path outside the mount the proxy names: 500, as gunicorn, and the worker serves on.
    assert forwarded(server, "/elsewhere/forwarded", sent)[0] == 500
    assert "does not start with SCRIPT_NAME '/app'" in server.log()
    server.stop()
    server.start("-w", "1", "--app-path", APPS, "--forwarder-headers", "remote_user", app="compat_wsgi",
                 env=ENV)
    status, body = forwarded(server, "/app/forwarded", sent)
    assert eval(body) == {"SCRIPT_NAME": "", "PATH_INFO": "/app/forwarded",  # noqa: S307
                          "HTTP_REMOTE_USER": "alice", "HTTP_X_OTHER": None}
    server.stop()
    # From a peer outside forwarded_allow_ips nothing with '_' gets through.
    server.start("-w", "1", "--app-path", APPS, "--forwarded-allow-ips", "10.0.0.1",
                 "--forwarder-headers", "*", app="compat_wsgi", env=ENV)
    status, body = forwarded(server, "/app/forwarded", sent)
    assert eval(body) == {"SCRIPT_NAME": "", "PATH_INFO": "/app/forwarded",  # noqa: S307
                          "HTTP_REMOTE_USER": None, "HTTP_X_OTHER": None}


def test_unconventional_method_refused_by_default(server):
    server.start("-w", "1", app="diag:app")
    assert exchange(server, b"get / HTTP/1.1\r\nHost: x\r\n\r\n").status == 400


def test_no_sendfile_sends_the_same_file(server, tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f.bin").write_bytes(data)
    server.start("-w", "1", "--no-sendfile", app="diag:app")
    status, headers, body = server.request("GET", f"/file?path={tmp_path / 'f.bin'}")
    assert status == 200 and body == data


def test_daemon_refused_and_worker_tmp_dir_warns(server):
    server.start("-w", "1", "-D", app="hello:app", wait=False)
    assert server.wait_exit() == 2
    assert b"--daemon: cppicorn does not daemonize" in open(server.output.name, "rb").read()
    server.start("-w", "1", "--worker-tmp-dir", "/dev/shm", app="hello:app")
    assert "--worker-tmp-dir: has no effect: workers report liveness" in server.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
@pytest.mark.parametrize("flag,groups", [((), ""), (("--initgroups",), "65534")])
def test_initgroups(server, flag, groups):
    server.start("-w", "1", "-u", "nobody", "-g", "nogroup", *flag, app="diag:app")
    (pid,) = server.wait_workers(1)
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("Groups:"))
    assert line.split(":", 1)[1].strip() == groups
