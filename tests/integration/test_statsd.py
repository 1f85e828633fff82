"""StatsD push (statsd_host, statsd_prefix, dogstatsd_tags): the master sends gunicorn's metric
names to a real UDP socket here, with the prefix and the DogStatsD tags on every line, and the
counts add up to the requests made."""
import re
import socket

import pytest

from conftest import wait_for
from test_metrics import samples, scrape_text, start

TAGS = "env:ci,svc:web"
LINE = re.compile(r"app\.(?P<name>[a-z0-9_.]+):(?P<value>[0-9.]+)\|(?P<type>c|ms|g)"
                  r"(?:\|@(?P<rate>[0-9.e-]+))?\|#" + re.escape(TAGS))


class Receiver:
    """A statsd server's socket: collects every line, sums counters, keeps the last gauge."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.counters, self.gauges, self.timers, self.lines = {}, {}, [], []

    def drain(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self
            assert len(data) <= 1432, "lines are packed within one Ethernet MTU"
            for line in data.decode().split("\n"):
                self.lines.append(line)
                m = LINE.fullmatch(line)
                assert m, f"not a tagged, prefixed statsd line: {line!r}"
                value = float(m["value"])
                if m["type"] == "c":
                    assert m["rate"] == "1.0", line  # gunicorn's "|c|@1.0"
                    self.counters[m["name"]] = self.counters.get(m["name"], 0) + value
                elif m["type"] == "g":
                    self.gauges[m["name"]] = value
                else:
                    assert m["name"] == "gunicorn.request.duration", line
                    # One sample for N requests carries the rate 1/N.
                    self.timers.append((value, round(1 / float(m["rate"] or 1))))

    def count(self, name):
        return self.drain().counters.get(name, 0)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.sock.close()


def test_statsd_pushes_gunicorns_metrics_from_the_master(server, receiver):
    mport = start(server, "-w", "2", "--statsd-host", f"127.0.0.1:{receiver.port}",
                  "--statsd-prefix", "app", "--dogstatsd-tags", TAGS, app="diag:app")
    # The gauge comes every second, even while idle.
    wait_for(lambda: receiver.drain().gauges.get("gunicorn.workers") == 2, what="workers gauge")
    # The start-up probe's requests: wait until statsd has pushed what the scoreboard counted.
    key = 'cppicorn_http_requests_total{code="2xx"}'
    probe = wait_for(lambda: (n := samples(scrape_text(mport)[2])[key]) ==
                     receiver.count("gunicorn.requests") and n, what="the probe pushed")
    ok_before = receiver.count("gunicorn.request.status.200")

    for _ in range(6):
        assert server.request("GET", "/")[0] == 200
    for _ in range(2):
        assert server.request("GET", "/status?code=418")[0] == 418
    assert server.request("GET", "/status?code=299")[0] == 299  # not registered: its class
    assert server.request("GET", "/throw")[0] == 500  # logged as gunicorn's log.exception
    assert server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").startswith(
        b"HTTP/1.1 400")

    wait_for(lambda: receiver.count("gunicorn.requests") == probe + 11, what="11 requests pushed")
    c = receiver.counters
    assert c["gunicorn.request.status.200"] - ok_before == 6
    assert c["gunicorn.request.status.418"] == 2
    assert c["gunicorn.request.status.2xx"] == 1
    assert c["gunicorn.request.status.500"] == 1
    assert c["gunicorn.request.status.400"] == 1
    wait_for(lambda: receiver.count("gunicorn.log.exception") == 1, what="the exception counted")
    # Every request that reached the app is in a timer sample's weight (the 400 never did).
    text = scrape_text(mport)[2]
    in_app = samples(text)["cppicorn_http_request_duration_seconds_count"]
    wait_for(lambda: sum(n for _, n in receiver.drain().timers) == in_app,
             what="duration samples for every request")
    assert all(ms >= 0 for ms, _ in receiver.timers)
    assert receiver.gauges["gunicorn.workers"] == 2


def test_statsd_unix_socket(server, tmp_path):
    """unix:PATH (gunicorn's unix://PATH) sends to a datagram socket."""
    path = str(tmp_path / "statsd.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        server.start("-w", "1", "--statsd-host", f"unix://{path}")
        first = sock.recv(65536).decode()
        assert "gunicorn.workers:1|g" in first.split("\n"), first
        assert server.request("GET", "/")[0] == 200
        server.stop()
        got = []
        sock.setblocking(False)
        try:
            while True:
                got += sock.recv(65536).decode().split("\n")
        except BlockingIOError:
            pass
        assert any(line.startswith("gunicorn.requests:") for line in got), got
    finally:
        sock.close()


def test_statsd_bad_address_is_a_config_error(server):
    server.start("--statsd-host", "no such host:1", wait=False)
    assert server.wait_exit() == 2
    assert b"--statsd-host: invalid statsd address 'no such host:1'" in open(
        server.output.name, "rb").read()
