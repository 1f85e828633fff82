"""The master's metrics listener (metrics_bind): Prometheus text, health checks, and that it
answers when no worker can, never stalls on a slow reader, and never counts backwards."""
import os
import re
import signal
import socket
import time

import pytest

from conftest import free_port, recv_to_eof, wait_for
from test_upgrade import NEXT, read_pid, replace_binary, upgradable  # noqa: F401


def scrape_text(port, path="/metrics", timeout=5):
    """One raw GET; returns (status, headers dict, body str)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = recv_to_eof(s)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    return status, headers, body.decode()


def samples(text):
    """{'name{labels}': value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def start(server, *args, **kwargs):
    mport = free_port()
    server.start("--metrics-bind", f"127.0.0.1:{mport}", *args, **kwargs)
    wait_for(lambda: server.log_has("Metrics at:"), what="metrics listener")
    return mport


def test_metrics_counts_requests_rejections_and_bytes(server):
    mport = start(server, "-w", "2")
    status, headers, text = scrape_text(mport)
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    # The readiness probe's own request is counted once written, which may be a moment after
    # the probe saw it: start from a count two scrapes agree on.
    key = 'cppicorn_http_requests_total{code="2xx"}'
    before = wait_for(lambda: (a := samples(scrape_text(mport)[2]))[key] ==
                      samples(scrape_text(mport)[2])[key] and a, what="a settled count")
    for _ in range(5):
        assert server.request("GET", "/")[0] == 200
    assert server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").startswith(
        b"HTTP/1.1 400")
    assert server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n").startswith(
        b"HTTP/1.1 501")
    # Responses are counted once written: the client may see one a moment before the counter.
    wait_for(lambda: (s := samples(scrape_text(mport)[2]))['cppicorn_http_requests_total{code="4xx"}']
             == 1 and s['cppicorn_http_requests_total{code="5xx"}'] == 1 and
             s['cppicorn_http_requests_total{code="2xx"}'] - before[
                 'cppicorn_http_requests_total{code="2xx"}'] == 5, what="all responses counted")
    after = samples(scrape_text(mport)[2])
    assert after['cppicorn_http_requests_total{code="2xx"}'] - before[
        'cppicorn_http_requests_total{code="2xx"}'] == 5
    assert after['cppicorn_http_rejections_total{code="400"}'] == 1
    assert after['cppicorn_http_rejections_total{code="501"}'] == 1
    assert after['cppicorn_connections_accepted_total'] >= 7
    assert after['cppicorn_http_request_duration_seconds_count'] >= 5
    assert after['cppicorn_http_request_duration_seconds_bucket{le="+Inf"}'] == after[
        'cppicorn_http_request_duration_seconds_count']
    assert after["cppicorn_received_bytes_total"] > before["cppicorn_received_bytes_total"]
    assert after["cppicorn_sent_bytes_total"] > before["cppicorn_sent_bytes_total"]
    assert after['cppicorn_workers{state="idle"}'] == 2
    assert after["cppicorn_workers_desired"] == 2
    assert after["cppicorn_ready"] == 1
    assert any(k.startswith("cppicorn_listen_queue_max{listener=") for k in after)
    assert re.search(r'^cppicorn_build_info\{version="[^"]+"\} 1$', scrape_text(mport)[2], re.M)


def test_health_endpoints_and_unknown_paths(server):
    mport = start(server)
    assert scrape_text(mport, "/health/ready")[0] == 200
    assert scrape_text(mport, "/health/live")[0] == 200
    assert scrape_text(mport, "/nope")[0] == 404
    with socket.create_connection(("127.0.0.1", mport), timeout=5) as s:
        s.sendall(b"garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_scrape_answers_while_every_worker_is_stopped(server):
    mport = start(server, "-w", "2")
    workers = server.wait_workers(2)
    assert server.request("GET", "/")[0] == 200
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Nobody can accept on the app socket now...
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(0.5)
            with pytest.raises(socket.timeout):
                s.recv(1)
            # ...and the master still reports, including the connection waiting for a worker.
            status, _, text = scrape_text(mport)
            assert status == 200
            queued = [v for k, v in samples(text).items()
                      if k.startswith("cppicorn_listen_queue_length")]
            assert queued == [1]
            assert scrape_text(mport, "/health/live")[0] == 200
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def test_slow_reader_does_not_stall_the_master(server):
    mport = start(server)
    # Clients that connect and never send, or send half a head: they must not block others.
    idle = [socket.create_connection(("127.0.0.1", mport)) for _ in range(10)]
    half = socket.create_connection(("127.0.0.1", mport))
    half.sendall(b"GET /metrics HTTP/1.1\r\n")
    try:
        for _ in range(3):
            assert scrape_text(mport)[0] == 200
        # The stalled exchanges are cut after their 2 s.
        half.settimeout(10)
        assert half.recv(1) == b""
    finally:
        for s in idle + [half]:
            s.close()


def test_ready_turns_503_when_draining(server, tmp_path):
    mport = start(server, "--graceful-timeout", "30", app="diag:app")
    assert scrape_text(mport, "/health/ready")[0] == 200
    # A request in the app keeps the worker (and so the master) draining after TERM.
    conn = server.connection(timeout=30)
    conn.request("GET", "/sleep?ms=3000")
    wait_for(lambda: samples(scrape_text(mport)[2])['cppicorn_workers{state="app"}'] == 1,
             what="the request in the app")
    server.signal(signal.SIGTERM)
    wait_for(lambda: scrape_text(mport, "/health/ready")[0] == 503, what="ready 503")
    assert scrape_text(mport, "/health/live")[0] == 200
    assert samples(scrape_text(mport)[2])["cppicorn_ready"] == 0
    assert conn.getresponse().status == 200
    assert server.wait_exit() == 0


def test_winch_makes_ready_503_and_hup_brings_it_back(server):
    mport = start(server, "-w", "1")
    server.signal(signal.SIGWINCH)
    wait_for(lambda: scrape_text(mport, "/health/ready")[0] == 503, what="ready 503 after WINCH")
    server.signal(signal.SIGHUP)
    wait_for(lambda: scrape_text(mport, "/health/ready")[0] == 200, what="ready again after HUP")


def test_counters_survive_worker_recycling(server):
    mport = start(server, "-w", "1", "--max-requests", "3")
    first = samples(scrape_text(mport)[2])['cppicorn_http_requests_total{code="2xx"}']
    seen = []
    for _ in range(10):
        assert server.request("GET", "/")[0] == 200
        seen.append(samples(scrape_text(mport)[2])['cppicorn_http_requests_total{code="2xx"}'])
    assert seen == sorted(seen), f"a counter went backwards: {seen}"
    # A response is counted once written, so the last one may reach the counter a moment
    # after the client has it.
    wait_for(lambda: samples(scrape_text(mport)[2])['cppicorn_http_requests_total{code="2xx"}']
             - first == 10, what="all ten counted")
    wait_for(lambda: samples(scrape_text(mport)[2])[
        'cppicorn_worker_exits_total{reason="max_requests"}'] >= 3, what="recycled workers counted")


def test_timeout_and_crash_exits_are_counted(server):
    mport = start(server, "-w", "1", "--timeout", "1", app="diag:app")
    conn = server.connection(timeout=30)
    conn.request("GET", "/sleep?ms=10000")
    wait_for(lambda: samples(scrape_text(mport)[2])['cppicorn_worker_exits_total{reason="timeout"}']
             == 1, timeout=15, what="timeout counted")
    pid = server.wait_workers(1).pop()
    os.kill(pid, signal.SIGSEGV)
    wait_for(lambda: samples(scrape_text(mport)[2])['cppicorn_worker_exits_total{reason="crash"}']
             == 1, what="crash counted")


def test_reload_is_counted(server):
    mport = start(server, "-w", "1")
    server.signal(signal.SIGHUP)
    wait_for(lambda: samples(scrape_text(mport)[2])['cppicorn_reloads_total{result="ok"}'] == 1,
             what="reload counted")
    assert samples(scrape_text(mport)[2])["cppicorn_generation"] == 2


def test_upgrade_hands_the_metrics_socket_to_the_new_master(upgradable):
    s = upgradable
    mport = free_port()
    s.start("-w", "1", "-p", s.pidfile, "--metrics-bind", f"127.0.0.1:{mport}", app="diag:app")
    version = re.search(r'version="([^"]+)"', scrape_text(mport)[2]).group(1)
    replace_binary(s.binary, source=NEXT)
    s.signal(signal.SIGUSR2)
    assert s.wait_exit(30) == 0  # the old master drained and left
    # The same socket, now answered by the new build: ready, and saying so in build_info.
    assert scrape_text(mport, "/health/ready")[0] == 200
    assert f'cppicorn_build_info{{version="{version}-next"}} 1' in scrape_text(mport)[2]
    assert read_pid(s.pidfile) != s.proc.pid


def test_unix_metrics_socket(server, tmp_path):
    path = str(tmp_path / "metrics.sock")
    server.start("--metrics-bind", f"unix:{path}")
    wait_for(lambda: os.path.exists(path), what="metrics socket file")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"cppicorn_workers{" in data
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert not os.path.exists(path)


def test_bad_metrics_bind_names_the_setting(server):
    server.start("--metrics-bind", "127.0.0.1:notaport", wait=False)
    assert server.wait_exit() != 0
    out = open(os.path.join(server.tmpdir, "stdout.log")).read() + server.log()
    assert "metrics" in out and "notaport" in out


def test_real_prometheus_scrapes_it(server, tmp_path):
    """Debian's prometheus scrapes the endpoint and answers a query on what it stored."""
    import json
    import shutil
    import subprocess
    import urllib.parse
    import urllib.request
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.skip("prometheus not installed (tools/install-deps --test)")
    mport = start(server, "-w", "2")
    for _ in range(7):
        assert server.request("GET", "/")[0] == 200
    pport = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: cppicorn\n    static_configs: [{{targets: ['127.0.0.1:{mport}']}}]\n")
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_path}/tsdb",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=log, stderr=subprocess.STDOUT)

    def api(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pport}/api/v1/{path}", timeout=2) as r:
                return json.load(r)["data"]
        except OSError:
            return None

    def query(expr):
        data = api("query?query=" + urllib.parse.quote(expr))
        return data["result"] if data else []

    try:
        targets = wait_for(lambda: (t := api("targets")) and [a for a in t["activeTargets"]
                                                              if a["health"] == "up"],
                           timeout=60, what="prometheus target up")
        assert targets[0]["labels"]["job"] == "cppicorn"
        result = wait_for(lambda: query('cppicorn_http_requests_total{code="2xx"}'), timeout=30,
                          what="the sample in prometheus")
        assert float(result[0]["value"][1]) >= 7
        workers = wait_for(lambda: query('sum(cppicorn_workers)'), timeout=30, what="workers")
        assert float(workers[0]["value"][1]) == 2
        # The histogram is usable as one: a quantile over it is a number.
        assert wait_for(lambda: query(
            "histogram_quantile(0.5, cppicorn_http_request_duration_seconds_bucket)"),
            timeout=30, what="a quantile")
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
