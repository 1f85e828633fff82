#!/usr/bin/python3
"""Aggregate one bench/run results directory: print the markdown tables and write
results.json, results.csv and the .dat files that chart.gp plots.

Input (written by bench/run): meta.tsv, servers.tsv, cases.tsv, raw/<case>.r<N>.txt
(wrk output with a WRKJSON line from summary.lua), prompt/<server>.txt.
Medians, not means: with other builds sharing the 2 cores, one disturbed round should
move the min-max range, not the headline number.
"""
import csv
import json
import re
import statistics
import sys
from pathlib import Path

RES = Path(sys.argv[1])


def read_tsv(name, fields):
    path = RES / name
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        vals = line.split("\t")
        rows.append(dict(zip(fields, vals + [""] * (len(fields) - len(vals)))))
    return rows


def parse_run(path):
    """One wrk run -> dict, or None when wrk printed no summary (crashed/timed out)."""
    text = path.read_text(errors="replace")
    m = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
    h = re.search(r"^HANDSHAKES (\d+) (\d+) (\d+)$", text, re.M)  # TLS s_time runs
    if h and int(h.group(1)) > 0:
        n, us = int(h.group(1)), int(h.group(2))
        w = {"requests": n, "duration_us": us, "bytes": 0, "resumed": int(h.group(3))}
    elif not m:
        return {"failed": (text.splitlines()[1:2] or ["no wrk output"])[0][:60]}
    else:
        w = json.loads(m.group(1))
    run = {
        "round": int(re.search(r"\.r(\d+)\.txt$", path.name).group(1)),
        "rps": w["requests"] / (w["duration_us"] / 1e6) if w["duration_us"] else 0.0,
        "requests": w["requests"],
        "mb_per_s": w["bytes"] / (w["duration_us"] / 1e6) / 2**20 if w["duration_us"] else 0.0,
        "errors": {k[4:]: w[k] for k in w if k.startswith("err_")},
    }
    # s_time gives no latencies (None, shown as "–"); it says how many connections resumed.
    for key in ("p50", "p90", "p99"):
        run[f"{key}_ms"] = w[f"{key}_us"] / 1000 if f"{key}_us" in w else None
    run["max_ms"] = w["lat_max_us"] / 1000 if "lat_max_us" in w else None
    if "resumed" in w:
        run["resumed"] = w["resumed"]
    run["errors_total"] = sum(run["errors"].values())
    # Set by bench/run when the server had to be restarted before the run, or its worker
    # pids differed after it: somebody else signalled it (the machine is shared).
    run["disturbed"] = bool(re.search(r"^(SERVER_RESTARTED|WORKERS_CHANGED)$", text, re.M))
    m = re.search(r"^SCRAPES (\d+) (\d+) (\d+)$", text, re.M)  # ka.cppicorn-scraped
    if m:
        run["scrapes"], run["scrapes_failed"] = int(m.group(1)), int(m.group(2))
    for key, name in (("LOADAVG_BEFORE", "load_before"), ("LOADAVG_AFTER", "load_after"),
                      ("ACCESSLOG_LINES", "accesslog_lines"), ("MASTER_CPU_MS", "master_cpu_ms"),
                      ("SCRAPER_CPU_MS", "scraper_cpu_ms"), ("WORKERS_CPU_MS", "workers_cpu_ms")):
        m = re.search(rf"^{key} (\S+)$", text, re.M)
        if m:
            run[name] = float(m.group(1))
    return run


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def ratio(x, base):
    if x is None or not base:
        return "n/a"
    return f"{x / base:.2f}×"


meta = dict((r["k"], r["v"]) for r in read_tsv("meta.tsv", ["k", "v"]))
# servers.tsv has one line per start (BENCH_LAUNCHES of them); the last start is the one
# that served the load, so its line gives pid/RSS, and the launch time is the median.
servers, launches = {}, {}
for s in read_tsv("servers.tsv", ["name", "port", "pid", "launch_ms", "workers", "rss_kb",
                                  "pss_kb", "master_rss_kb", "status"]):
    servers[s["name"]] = s
    if s["status"] == "ok":
        launches.setdefault(s["name"], []).append(int(s["launch_ms"]))
for name, ms in launches.items():
    servers[name].update(launch_ms=statistics.median(ms), launch_min_ms=min(ms),
                         launch_max_ms=max(ms), launch_samples=ms)
cases = read_tsv("cases.tsv", ["id", "scenario", "server", "label", "state"])
# The wsidle rows measure memory, not a rate: a table of their own (below), out of `cases`.
ws_idle = [c for c in cases if c["id"].startswith("wsidle.")]
cases = [c for c in cases if not c["id"].startswith("wsidle.")]


def parse_ws_idle(path):
    """One wsidle round (lib/wsidle.sh's WSIDLE line) -> dict, or None."""
    m = re.search(r"^WSIDLE (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$",
                  path.read_text(errors="replace"), re.M)
    if not m:
        return None
    opened, failed, ms, pss0, pss1, rss0, rss1 = map(int, m.groups())
    return {"opened": opened, "failed": failed, "open_ms": ms,
            "pss_before_kb": pss0, "pss_after_kb": pss1, "rss_before_kb": rss0,
            "rss_after_kb": rss1, "pss_per_ws_kb": (pss1 - pss0) / opened if opened else None,
            "rss_per_ws_kb": (rss1 - rss0) / opened if opened else None}


for c in ws_idle:
    c["runs"] = [r for r in (parse_ws_idle(p) for p in
                             sorted((RES / "raw").glob(c["id"] + ".r*.txt"))) if r]
    for key in ("pss_per_ws_kb", "rss_per_ws_kb", "opened", "pss_before_kb", "pss_after_kb"):
        vals = [r[key] for r in c["runs"] if r[key] is not None]
        c[key] = statistics.median(vals) if vals else None

# ---- throughput cases
for c in cases:
    parsed = [parse_run(p) for p in sorted((RES / "raw").glob(c["id"] + ".r*.txt"))]
    runs = [r for r in parsed if "failed" not in r]
    c["runs"] = runs
    c["failed_runs"] = [r["failed"] for r in parsed if "failed" in r]
    c["disturbed_runs"] = sum(r["disturbed"] for r in runs)
    if runs:
        rps = [r["rps"] for r in runs]
        c["rps_median"], c["rps_min"], c["rps_max"] = statistics.median(rps), min(rps), max(rps)
        lat = [r for r in runs if r["p50_ms"] is not None]
        c["p50_ms"] = statistics.median(r["p50_ms"] for r in lat) if lat else None
        c["p99_ms"] = statistics.median(r["p99_ms"] for r in lat) if lat else None
        # TLS rows: the workers' CPU µs per handshake or request (sum over the rounds).
        cpu = [r for r in runs if "workers_cpu_ms" in r]
        if cpu:
            c["cpu_us_per_op"] = sum(r["workers_cpu_ms"] for r in cpu) * 1000 / max(
                1, sum(r["requests"] for r in cpu))
        if any("resumed" in r for r in runs):
            c["resumed"] = sum(r.get("resumed", 0) for r in runs)
            c["connections"] = sum(r["requests"] for r in runs)
        c["errors_total"] = sum(r["errors_total"] for r in runs)
        c["errors"] = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
    else:
        c["rps_median"] = c["rps_min"] = c["rps_max"] = c["p50_ms"] = c["p99_ms"] = None
        c["errors_total"], c["errors"] = None, {}
    srv = servers.get(c["server"], {})
    c["rss_kb"] = int(srv["rss_kb"]) if srv.get("rss_kb") else None

scenarios = []
for c in cases:
    if c["scenario"] not in scenarios:
        scenarios.append(c["scenario"])
baseline = {s: next(c for c in cases if c["scenario"] == s) for s in scenarios}

# ---- per-server facts: launch, memory, promptness under load
def prompt_stats(name):
    path = RES / "prompt" / f"{name}.txt"
    if not path.exists():
        return None
    lines = [l.split() for l in path.read_text().splitlines() if l.strip()]
    # Only curls that started and finished while wrk was still loading the server count.
    loaded = [l for l in lines if len(l) == 4 and l[3] == "1"]
    ok = [float(l[2]) * 1000 for l in loaded if l[0] == "200"]
    return {"n": len(loaded), "failed": len(loaded) - len(ok),
            "median_ms": statistics.median(ok) if ok else None,
            "max_ms": max(ok) if ok else None}


order = ["cppicorn", "cppicorn-wsgi", "cppicorn-log", "cppicorn-diag", "cppicorn-nodefer",
         "gunicorn-sync",
         "gunicorn-gthread", "uwsgi", "nginx", "nginx-deferred"]
for name in order:
    s = servers.setdefault(name, {"name": name, "status": "missing"})
    s["prompt"] = prompt_stats(name)
base_srv = servers.get("cppicorn", {})  # absent when only some groups ran (BENCH_SERVERS=asgi)
# Instances that only vary a setting for some rows: not in the per-server charts.
VARIANTS = ("cppicorn-log", "cppicorn-diag", "cppicorn-nodefer", "nginx-deferred")


def srv_val(s, key):
    v = s.get(key)
    return float(v) if v not in (None, "") else None


# ---- markdown
loads = [r[k] for c in cases for r in c["runs"] for k in ("load_before", "load_after") if k in r]
out = []
out.append(f"## Benchmarks ({meta.get('date', '?')[:10]}, cppicorn {meta.get('cppicorn', '?')})\n")
out.append(f"Machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), Linux "
           f"{meta.get('kernel', '?')}. **wrk runs on the same {meta.get('cpus', '?')} cores as "
           "the server under test**, so client and server compete for CPU and absolute numbers "
           "are lower than with a separate load generator; compare rows, not machines. "
           + (f"1-min load average seen around the runs: {min(loads):.1f}–{max(loads):.1f} "
              "(other processes were sharing the machine when this is well above the core count)."
              if loads else ""))
out.append(f"\nwrk {meta.get('wrk_args', '')}; {meta.get('repeat', '?')} interleaved rounds; "
           "every server has 2 worker processes on 127.0.0.1 and no access log unless stated. "
           f"Peers: {meta.get('gunicorn', '')} (gthread: {meta.get('gthreads', '?')} threads), "
           f"uWSGI {meta.get('uwsgi', '')} (--{meta.get('uwsgi_socket', '')}, python3 plugin), "
           f"{meta.get('nginx', '')}.\n")
def mark(c):
    """Footnote marks: runs lost (no wrk result) or disturbed by an outside signal."""
    m = f" ({len(c['runs'])}/{len(c['runs']) + len(c['failed_runs'])} runs)" if c["failed_runs"] else ""
    return m + (f" †{c['disturbed_runs']}" if c["disturbed_runs"] else "")


out.append("| scenario | server | req/s median | min–max | vs cppicorn | p50 ms | p99 ms "
           "| errors | idle RSS/worker |")
out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
for c in cases:
    base = baseline[c["scenario"]]
    if c["rps_median"] is None:
        why = "missing" if c["state"] != "ok" else \
            f"failed: {c['failed_runs'][0] if c['failed_runs'] else 'no result'}"
        out.append(f"| {c['scenario']} | {c['label']} | {why} | | | | | | |")
        continue
    errs = c["errors_total"]
    detail = ",".join(f"{k[0]}{v}" for k, v in c["errors"].items() if v)
    out.append(
        f"| {c['scenario']} | {c['label']}{mark(c)} | {fmt_num(c['rps_median'])} | "
        f"{fmt_num(c['rps_min'])}–{fmt_num(c['rps_max'])} | "
        f"{ratio(c['rps_median'], base['rps_median'])} | {fmt_num(c['p50_ms'], 2)} | "
        f"{fmt_num(c['p99_ms'], 2)} | {errs}{f' ({detail})' if detail else ''} | "
        f"{fmt_num(c['rss_kb'] / 1024 if c['rss_kb'] else None, 1)} MiB |")
out.append("\nerrors = wrk socket errors (c=connect, r=read, w=write, t=timeout) + s=HTTP "
           "status ≥ 400, summed over the rounds. *vs cppicorn* = median req/s ÷ the first "
           "cppicorn row of the same scenario. Idle RSS per worker = sum of the workers' "
           "VmRSS right after start ÷ worker count (shared pages count in every worker; "
           "PSS is in results.json)."
           + (" uWSGI --http-socket does not keep connections alive: it closes after each "
              "response without a `Connection: close` header, and wrk counts every such close "
              "as a read error although the response was complete (BENCH_UWSGI_SOCKET="
              "http11-socket gives it keep-alive)." if meta.get("uwsgi_socket") == "http-socket"
              else "") + "\n")

if ws_idle:
    n = int(meta.get("ws_idle_n", "10000") or 10000)
    base_ws = ws_idle[0]
    out.append(f"| {n:,} idle WebSockets | opened (median) | PSS growth per WebSocket KiB "
               "| min–max | vs cppicorn | RSS growth per WebSocket KiB | PSS before → with "
               "them open MiB |")
    out.append("|---|--:|--:|--:|--:|--:|--:|")
    for c in ws_idle:
        if c["pss_per_ws_kb"] is None:
            out.append(f"| {c['label']} | {'missing' if c['state'] != 'ok' else 'failed'} "
                       "| | | | | |")
            continue
        per = [r["pss_per_ws_kb"] for r in c["runs"] if r["pss_per_ws_kb"] is not None]
        out.append(f"| {c['label']} | {fmt_num(c['opened'])} | {c['pss_per_ws_kb']:.1f} | "
                   f"{min(per):.1f}–{max(per):.1f} | "
                   f"{ratio(c['pss_per_ws_kb'], base_ws['pss_per_ws_kb'])} | "
                   f"{fmt_num(c['rss_per_ws_kb'], 1)} | {c['pss_before_kb'] / 1024:.1f} → "
                   f"{c['pss_after_kb'] / 1024:.1f} |")
    out.append("\nMemory per idle WebSocket: each round starts the server afresh, sums the "
               "PSS (`/proc/PID/smaps_rollup`) of its master and workers, opens the WebSockets "
               "(handshake done, then nothing sent; `lib/ws_idle_hold.c`), sums it again "
               "with all of them open and divides the growth by the number opened. PSS counts "
               "a shared page once over the processes; RSS growth alongside.\n")

if any(c["disturbed_runs"] for c in cases):
    out.append("†N: in N runs the server had been killed and was restarted, or its workers "
               "were replaced, by a signal from outside the benchmark (shared machine); "
               "those runs are still counted. Server logs are in the results directory.\n")
out.append(f"| server | launch-to-first-200 ms (median, min–max) | vs cppicorn | idle RSS/worker MiB | new conn "
           "under load: median ms | max ms | failed | vs cppicorn (median) |")
out.append("|---|--:|--:|--:|--:|--:|--:|--:|")
bp = base_srv.get("prompt") or {}
for name in order:
    s = servers[name]
    if s.get("status") != "ok":
        out.append(f"| {name} | {s.get('status', 'missing')} | | | | | | |")
        continue
    p = s.get("prompt") or {}
    rss = srv_val(s, "rss_kb")
    out.append(
        f"| {name} | {fmt_num(srv_val(s, 'launch_ms'))} ({s.get('launch_min_ms')}–"
        f"{s.get('launch_max_ms')}) | {ratio(srv_val(s, 'launch_ms'), srv_val(base_srv, 'launch_ms'))} | "
        f"{fmt_num(rss / 1024 if rss else None, 1)} | {fmt_num(p.get('median_ms'), 1)} | "
        f"{fmt_num(p.get('max_ms'), 1)} | {p.get('failed', '–')}/{p.get('n', '–')} | "
        f"{ratio(p.get('median_ms'), bp.get('median_ms')) if p else ''} |")
out.append("\n*new conn under load*: while wrk keeps its connections busy (keep-alive), "
           "fresh `curl` requests on new connections are timed (connect + response); only "
           "those that ran entirely during the load count.")

# ---- goals: each a ratio from this one run, and whether it was met
def rps_of(scenario, server, label=None):
    for c in cases:
        if c["scenario"] == scenario and c["server"] == server and label in (None, c["label"]):
            return c["rps_median"]
    return None


def goal_row(goal, measured, met):
    return f"| {goal} | {measured} | {'n/a' if met is None else ('met' if met else '**not met**')} |"


def rps_goal(goal, scenario, server, peer, label=None, at_least=1.0):
    x, base = rps_of(scenario, server, label), rps_of(scenario, peer)
    if not x or not base:
        return goal_row(goal, "missing", None)
    return goal_row(goal, f"{fmt_num(x)} vs {fmt_num(base)} = {x / base:.3f}×", x / base >= at_least)


out.append("\n| goal | measured in this run | |")
out.append("|---|---|---|")
out.append(rps_goal("hello keep-alive ≥ 1.0× nginx", "hello keep-alive", "cppicorn", "nginx"))
out.append(rps_goal("hello `Connection: close` ≥ 1.0× nginx", "hello Connection: close",
                    "cppicorn", "nginx"))
for label in ("cppicorn /file (sendfile)", "cppicorn /bytes (buffered)"):
    out.append(rps_goal(f"1 MiB body ≥ 1.0× nginx static: {label}", "1 MiB body",
                        "cppicorn-diag", "nginx", label))
with_log, without = rps_of("hello keep-alive", "cppicorn-log"), rps_of("hello keep-alive", "cppicorn")
out.append(goal_row("access log costs ≤ 10 %", f"{(1 - with_log / without) * 100:+.1f} % "
                    "(keep-alive req/s lost)", 1 - with_log / without <= 0.10)
           if with_log and without else goal_row("access log costs ≤ 10 %", "missing", None))
# The same server and load with a Prometheus-style scrape of /metrics every 100 ms.
SCRAPED = "cppicorn, /metrics scraped every 100 ms"
scraped = rps_of("hello keep-alive", "cppicorn", SCRAPED)
sc = next((c for c in cases if c["label"] == SCRAPED), {})
n_scrapes = sum(r.get("scrapes", 0) for r in sc.get("runs", []))
n_failed = sum(r.get("scrapes_failed", 0) for r in sc.get("runs", []))


def master_cpu(case, key="master_cpu_ms"):  # CPU ms per second of load, median over rounds
    runs = [r for r in case.get("runs", []) if key in r]
    return statistics.median(r[key] / float(meta.get("duration", 0) or 1)
                             for r in runs) if runs else None


base_case = next((c for c in cases if c["id"] == "ka.cppicorn"), {})
out.append(goal_row("scraping /metrics every 100 ms costs ≤ 1 %",
                    f"{(1 - scraped / without) * 100:+.1f} % ({fmt_num(scraped)} vs "
                    f"{fmt_num(without)} req/s; {n_scrapes} scrapes, {n_failed} failed; master CPU "
                    f"{fmt_num(master_cpu(sc), 1)} vs {fmt_num(master_cpu(base_case), 1)} ms/s, "
                    f"scraper {fmt_num(master_cpu(sc, 'scraper_cpu_ms'), 1)} ms/s)",
                    1 - scraped / without <= 0.01 and n_failed == 0)
           if scraped and without else
           goal_row("scraping /metrics every 100 ms costs ≤ 1 %", "missing", None))
rss = srv_val(base_srv, "rss_kb")
out.append(goal_row("idle RSS ≤ 5 MiB per worker", f"{rss / 1024:.1f} MiB", rss <= 5 * 1024)
           if rss else goal_row("idle RSS ≤ 5 MiB per worker", "missing", None))
ours, theirs = srv_val(base_srv, "launch_ms"), srv_val(servers.get("nginx", {}), "launch_ms")
out.append(goal_row("launch to first 200 ≤ 1.5× nginx", f"{ours:.0f} vs {theirs:.0f} ms = "
                    f"{ours / theirs:.2f}×", ours / theirs <= 1.5)
           if ours and theirs else goal_row("launch to first 200 ≤ 1.5× nginx", "missing", None))
# "Promptly": a median under 10 ms with no curl failing. The goal is about starvation
# (uWSGI's HTTP/1.1 mode keeps a newcomer waiting for seconds); medians below a few ms
# swing 0.5-3 ms between runs here, for every server, as wrk competes for the 2 cores.
p_ours = base_srv.get("prompt") or {}
p_nginx = servers.get("nginx", {}).get("prompt") or {}
if p_ours.get("median_ms"):
    vs = f" (nginx {p_nginx['median_ms']:.1f} ms)" if p_nginx.get("median_ms") else ""
    out.append(goal_row("new connection under 64 keep-alive clients: median < 10 ms, none failed",
                        f"{p_ours['median_ms']:.1f} ms{vs}, {p_ours['failed']} failed",
                        p_ours["median_ms"] < 10 and not p_ours["failed"]))
else:
    out.append(goal_row("new connection under 64 keep-alive clients", "missing", None))

# Threads (issue #11): present when bench/run ran with "threads" in BENCH_SERVERS.
IO = "I/O-bound (50 ms per request)"
io = next((c for c in cases if c["scenario"] == IO and c["server"] == "io-cppicorn"), None)
if io is not None:
    threads = int(meta.get("io_threads", "16") or 16)
    ideal = 2 * threads / 0.050
    for name in ("io-cppicorn", "io-cppicorn-wsgi"):
        c = next((c for c in cases if c["scenario"] == IO and c["server"] == name), None)
        goal = f"I/O-bound {c['label'] if c else name}: ≥ 0.95× ideal {ideal:.0f} req/s, p99 ≤ 1.5× p50"
        if not c or not c["rps_median"]:
            out.append(goal_row(goal, "missing", None))
            continue
        ok = c["rps_median"] >= 0.95 * ideal and c["p99_ms"] <= 1.5 * c["p50_ms"]
        out.append(goal_row(goal, f"{fmt_num(c['rps_median'])} req/s = "
                            f"{c['rps_median'] / ideal:.2f}×, p50 {c['p50_ms']:.1f} / p99 "
                            f"{c['p99_ms']:.1f} ms", ok))
    HT = "hello keep-alive, threads"
    out.append(rps_goal("native hello with threads ≥ 0.9× sync", HT, "cppicorn-t", "cppicorn",
                        at_least=0.9))
    out.append(rps_goal("WSGI hello with threads ≥ 5× gunicorn gthread (same workers × threads)",
                        HT, "cppicorn-wsgi-t", "gunicorn-gthread", at_least=5.0))
    rss_io = srv_val(servers.get("io-cppicorn", {}), "rss_kb")
    out.append(goal_row(f"idle RSS per native worker with {threads} threads ≤ 8 MiB",
                        f"{rss_io / 1024:.1f} MiB", rss_io <= 8 * 1024)
               if rss_io else goal_row("idle RSS per native worker with threads ≤ 8 MiB",
                                       "missing", None))
# ASGI (issue #12): present when bench/run ran with "asgi" in BENCH_SERVERS.
if any(c["scenario"] == "ASGI hello keep-alive" for c in cases):
    out.append(rps_goal("ASGI hello ≥ 2.5× uvicorn (uvloop, httptools; same workers)",
                        "ASGI hello keep-alive", "cppicorn-asgi", "uvicorn", at_least=2.5))
if any(c["scenario"] == "FastAPI hello keep-alive" for c in cases):
    out.append(rps_goal("FastAPI hello ≥ 1.5× uvicorn (uvloop, httptools; same workers)",
                        "FastAPI hello keep-alive", "cppicorn-fastapi", "uvicorn-fastapi",
                        at_least=1.5))
if any(c["scenario"] == "WebSocket echo (msg/s)" for c in cases):
    out.append(rps_goal("WebSocket echo ≥ 2× uvicorn (64 connections, one message in flight)",
                        "WebSocket echo (msg/s)", "cppicorn-asgi", "uvicorn", at_least=2.0))
# The ASGI sleep rows: an I/O-bound coroutine, so the ideal is connections / 0.1 s, as the
# I/O-bound rows above have workers x threads / 50 ms; the peers' share of it alongside.
SLEEP = next((c["scenario"] for c in cases if c["id"].startswith("asgisleep.")), None)
if SLEEP:
    conns = int(meta.get("sleep_conns", "1000") or 1000)
    ideal = conns / 0.1
    ours = next((c for c in cases if c["id"] == "asgisleep.cppicorn-asgi"), None)
    peers = "; ".join(f"{c['label']} {fmt_num(c['rps_median'])} = {c['rps_median'] / ideal:.2f}×"
                      for c in cases if c["scenario"] == SLEEP and c is not ours
                      and c["rps_median"])
    goal = (f"ASGI `await asyncio.sleep(0.1)` at {conns:,} connections ≥ 0.9× ideal "
            f"{ideal:,.0f} req/s")
    out.append(goal_row(goal, f"{fmt_num(ours['rps_median'])} req/s = "
                        f"{ours['rps_median'] / ideal:.2f}× ideal, p99 {fmt_num(ours['p99_ms'], 1)} ms"
                        + (f" (peers: {peers})" if peers else ""),
                        ours["rps_median"] >= 0.9 * ideal)
               if ours and ours["rps_median"] else goal_row(goal, "missing", None))
if ws_idle:
    ours = next((c for c in ws_idle if c["id"] == "wsidle.cppicorn-asgi"), {})
    peer = next((c for c in ws_idle if c["id"] == "wsidle.uvicorn"), {})
    n = int(meta.get("ws_idle_n", "10000") or 10000)
    goal = f"idle WebSocket ≤ 16 KiB each ({n:,} open; PSS growth of master + workers)"
    x, y = ours.get("pss_per_ws_kb"), peer.get("pss_per_ws_kb")
    ok = x is not None and ours.get("opened") == n
    out.append(goal_row(goal, f"{x:.1f} KiB ({fmt_num(ours['opened'])} opened)"
                        + (f" vs uvicorn {y:.1f} KiB = {x / y:.2f}×" if y else ""),
                        x <= 16) if ok else goal_row(goal, "missing" if x is None else
                                                     f"only {fmt_num(ours['opened'])} opened", None))
# TLS (issue #13): present when bench/run ran with "tls" in BENCH_SERVERS. Each row against
# nginx, with the workers' CPU per handshake/request (steadier than a rate on a shared box).
TLS_ROWS = ("TLS full handshakes/s", "TLS resumed handshakes/s",
            "TLS 1.2 resumed handshakes/s", "TLS hello keep-alive", "TLS 1 MiB body")
for key in ("ECDSA P-256", "RSA 2048"):
    for row in TLS_ROWS:
        scen = f"{row}, {key}"
        ours = next((c for c in cases if c["scenario"] == scen and c["label"] == "cppicorn TLS"), None)
        peer = next((c for c in cases if c["scenario"] == scen and c["label"] == "nginx TLS"), None)
        goal = f"{scen} ≥ 1.0× nginx"
        if not ours or not peer or not ours["rps_median"] or not peer["rps_median"]:
            if ours or peer:
                out.append(goal_row(goal, "missing", None))
            continue
        x, base = ours["rps_median"], peer["rps_median"]
        what = "handshake" if "handshakes" in row else "request"
        extra = ""
        if "cpu_us_per_op" in ours and "cpu_us_per_op" in peer:
            extra += (f"; worker CPU per {what} {ours['cpu_us_per_op']:.0f} vs "
                      f"{peer['cpu_us_per_op']:.0f} µs")
        if "resumed" in row:
            extra += "; resumed " + ", ".join(
                f"{c['resumed'] / c['connections'] * 100:.1f} %" for c in (ours, peer)
                if c.get("connections"))
        out.append(goal_row(goal, f"{fmt_num(x)} vs {fmt_num(base)} = {x / base:.3f}×{extra}",
                            x / base >= 1.0))
print("\n".join(out))

# ---- raw outputs
(RES / "results.json").write_text(json.dumps(
    {"meta": meta, "servers": servers, "cases": cases, "ws_idle": ws_idle}, indent=1,
    default=str))
with open(RES / "results.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["case", "scenario", "server", "label", "round", "rps", "p50_ms", "p90_ms",
                "p99_ms", "max_ms", "mb_per_s", "errors", "load_before", "load_after"])
    for c in cases:
        for r in c["runs"]:
            w.writerow([c["id"], c["scenario"], c["server"], c["label"], r["round"],
                        f"{r['rps']:.1f}", r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
                        f"{r['mb_per_s']:.1f}", r["errors_total"], r.get("load_before", ""),
                        r.get("load_after", "")])

# ---- chart data: one file per panel; "label" value min max (0 = missing)
def dat(name, rows):
    with open(RES / name, "w") as f:
        for row in rows:
            f.write(" ".join(f'"{v}"' if isinstance(v, str) else f"{v:.3f}" for v in row) + "\n")


for i, s in enumerate(scenarios):
    dat(f"chart_s{i}.dat", [(c["label"], c["rps_median"] or 0, c["rps_min"] or 0,
                             c["rps_max"] or 0) for c in cases if c["scenario"] == s])
    (RES / f"chart_s{i}.title").write_text(s)
(RES / "chart_note.txt").write_text(
    f"wrk {meta.get('wrk_args', '')} on the same {meta.get('cpus', '?')} cores as the servers"
    + (f"; load average {min(loads):.1f}-{max(loads):.1f}" if loads else "")
    + f"; {meta.get('date', '')[:10]}, cppicorn {meta.get('cppicorn', '?')}")
hello = [n for n in order if n not in VARIANTS]
dat("chart_prompt.dat", [(n, (servers[n].get("prompt") or {}).get("median_ms") or 0,
                          (servers[n].get("prompt") or {}).get("max_ms") or 0) for n in hello])
dat("chart_launch.dat", [(n, srv_val(servers[n], "launch_ms") or 0) for n in hello])
dat("chart_rss.dat", [(n, (srv_val(servers[n], "rss_kb") or 0) / 1024,
                       (srv_val(servers[n], "pss_kb") or 0) / 1024) for n in hello])
