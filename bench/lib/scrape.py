#!/usr/bin/python3
"""A Prometheus-like scraper for bench/run: GET /metrics from HOST:PORT every INTERVAL
seconds (on a fresh connection, as the endpoint answers Connection: close) until SIGTERM or
SIGINT, then prints "SCRAPES <ok> <failed> <bytes of the last body>" and its own CPU time
("SCRAPER_CPU_MS <ms>": it runs on the same cores as the server under test). One process for the
whole run, so the scraping costs what Prometheus's would, not a curl fork per scrape.
    scrape.py HOST:PORT INTERVAL"""
import os
import signal
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
interval = float(sys.argv[2])
stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
ok = failed = size = 0
next_at = time.monotonic()
while not stop:
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        if data.startswith(b"HTTP/1.1 200") and b"cppicorn_http_requests_total" in data:
            ok += 1
            size = len(data.partition(b"\r\n\r\n")[2])
        else:
            failed += 1
    except OSError:
        failed += 1
    next_at += interval
    time.sleep(max(0.0, next_at - time.monotonic()))
t = os.times()
print(f"SCRAPES {ok} {failed} {size}")
print(f"SCRAPER_CPU_MS {int((t.user + t.system) * 1000)}")
