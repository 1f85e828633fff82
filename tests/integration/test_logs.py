"""Error and access logs through the installed binary: USR1 reopening, gunicorn's default
access line, a custom access format, response headers in it."""
import http.client
import os
import re
import signal
import subprocess

from conftest import wait_for


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def lines(path):
    return read(path).splitlines()


def test_usr1_reopens_logs(server, tmp_path):
    access = str(tmp_path / "access.log")
    server.start("-w", "1", "--access-logfile", access)
    for i in range(3):
        assert server.request("GET", f"/before{i}")[0] == 200
    wait_for(lambda: len([x for x in lines(access) if "/before" in x]) == 3,
             what="access lines before the rotation")
    os.rename(access, access + ".1")
    os.rename(server.log_path, server.log_path + ".1")
    server.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(server.log_path), what="a new error log")
    wait_for(lambda: os.path.exists(access), what="a new access log")
    for i in range(3):
        assert server.request("GET", f"/after{i}")[0] == 200
    # Access lines are flushed by the worker's one-second tick.
    wait_for(lambda: len([x for x in lines(access) if "/after" in x]) == 3,
             what="access lines after the rotation")
    assert not [x for x in lines(access) if "/before" in x]
    assert not [x for x in lines(access + ".1") if "/after" in x]
    # Something logged by the master after the reopen lands in the new error log.
    server.signal(signal.SIGTTIN)
    wait_for(lambda: "Booting worker" in read(server.log_path), what="error line after USR1")
    assert "Handling signal: usr1" in read(server.log_path + ".1")
    assert "Booting worker" not in read(server.log_path + ".1").split("Handling signal: usr1")[1]


DEFAULT_LINE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
    r'"GET /x\?y=1 HTTP/1\.1" 200 14 "(?P<ref>[^"]*)" "(?P<ua>[^"]*)"$')


def test_default_access_line_curl(server, tmp_path):
    access = str(tmp_path / "access.log")
    server.start("-w", "1", "--access-logfile", access)
    subprocess.run(["curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{server.port}/x?y=1"],
                   check=True)
    line = wait_for(lambda: next((x for x in lines(access) if "/x?y=1" in x), None),
                    what="the access line")
    print(line)
    m = DEFAULT_LINE.match(line)
    assert m, line
    assert m["ref"] == "-"
    assert m["ua"].startswith("curl/")


def test_default_access_line_http_client(server, tmp_path):
    access = str(tmp_path / "access.log")
    server.start("-w", "1", "--access-logfile", access)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/x?y=1", headers={"Referer": "http://ref.example/", "User-Agent":
                                           'tester "quoted"'})
    assert conn.getresponse().read() == b"Hello, World!\n"
    conn.close()
    line = wait_for(lambda: next((x for x in lines(access) if "/x?y=1" in x), None),
                    what="the access line")
    print(line)
    m = DEFAULT_LINE.match(line.replace('\\"', "'"))
    assert m, line
    assert m["ref"] == "http://ref.example/"
    assert line.endswith('"tester \\"quoted\\""')


def test_custom_access_format(server, tmp_path):
    access = str(tmp_path / "access.log")
    server.start("-w", "1", "--access-logfile", access, "--access-logformat",
                 "%(h)s %(s)s %(D)s <%({x-test}i)s> <%({absent}i)s> %(m)s %(U)s %(q)s",
                 app="diag:app")
    assert server.request("GET", "/sleep?ms=20", headers={"X-Test": "hello there"})[0] == 200
    line = wait_for(lambda: next((x for x in lines(access) if "/sleep" in x), None),
                    what="the access line")
    print(line)
    m = re.fullmatch(r"127\.0\.0\.1 200 (\d+) <hello there> <-> GET /sleep ms=20", line)
    assert m, line
    assert int(m.group(1)) >= 20000, "D is microseconds and the app slept 20 ms"


def test_access_format_response_headers(server, tmp_path):
    """%({name}o)s logs a header the app set; the next request on the same connection
    logs its own (or '-'), not the previous one's."""
    access = str(tmp_path / "access.log")
    server.start("-w", "1", "--access-logfile", access, "--access-logformat",
                 "%(U)s <%({x-served-by}o)s> <%({content-type}o)s> <%({absent}o)s>",
                 app="diag:app")
    conn = server.connection()
    conn.request("GET", "/header?name=X-Served-By&value=w1")
    assert conn.getresponse().read() == b"ok\n"
    conn.request("GET", "/status?code=204")
    conn.getresponse().read()
    conn.close()
    got = wait_for(lambda: [x for x in lines(access) if x.startswith(("/header", "/status"))]
                   if any(x.startswith("/status") for x in lines(access)) else None,
                   what="both access lines")
    print(got)
    assert got[0] == "/header <w1> <text/plain> <->"
    assert got[1].startswith("/status <-> ")


def test_error_log_format(server):
    server.start("-w", "1")
    first = server.log().splitlines()[0]
    print(first)
    assert re.match(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] "
                    r"Starting cppicorn", first), first
