# shellcheck shell=bash
# Measuring, for bench/run (sourced): one wrk run, the new-connection probe, response
# checks, and one benchmark case with its shared-machine safeguards. Uses the globals
# bench/run sets (THREADS, CONNS, PROMPT_*, RUN, RES, SRV_*, ACCESS_LOG).

# ---------------------------------------------------------------- measuring
# run_wrk OUT URL SECONDS [wrk args]: one bounded wrk run; its output (human text plus
# the WRKJSON line from summary.lua) goes to OUT together with the load average, which
# tells afterwards how busy the shared machine was during that run. --foreground keeps
# wrk in our process group, so a Ctrl-C reaches it at once instead of after the run.
run_wrk() {
  local out=$1 url=$2 secs=$3; shift 3
  echo "LOADAVG_BEFORE $(cut -d' ' -f1 /proc/loadavg)" >"$out"
  timeout --foreground -k 5 $(( secs + 30 )) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s \
    --latency -s "$BENCH_DIR/lib/summary.lua" "$@" "$url" >>"$out" 2>&1 ||
    echo "WRK_EXIT $?" >>"$out"
  echo "LOADAVG_AFTER $(cut -d' ' -f1 /proc/loadavg)" >>"$out"
}

# run_ws_echo OUT PORT SECONDS: the WebSocket echo load (bench/lib/ws_echo_load.c, built
# into $RUN on first use), CONNS_WS connections with one message in flight each.
run_ws_echo() {
  local bin=$RUN/ws_echo_load
  [[ -x $bin ]] || cc -O2 -o "$bin" "$BENCH_DIR/lib/ws_echo_load.c" || return 1
  timeout --foreground -k 5 $(( $3 + 30 )) "$bin" 127.0.0.1 "$2" "${CONNS_WS:-64}" "$3" \
    >"$1" 2>&1 || true
}

# Promptness: while wrk holds CONNS keep-alive connections busy, does a *new*
# connection get served quickly? A worker that only services its existing connections
# (or a sync worker stuck on one) makes this newcomer wait. One line per curl:
# "status time_connect time_total wrk_still_running".
prompt_test() {
  local url=$1 out=$2 i r alive
  : >"$out"
  run_wrk "$out.wrk" "$url" "$PROMPT_DURATION" & WRK_BG=$!
  sleep 1.5  # let wrk open all its connections first
  for (( i = 0; i < PROMPT_N; i++ )); do
    kill -0 "$WRK_BG" 2>/dev/null || break
    r=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_connect} %{time_total}' "$url" || true)
    alive=1; kill -0 "$WRK_BG" 2>/dev/null || alive=0
    echo "${r:-000 0 5} $alive" >>"$out"
    sleep 0.2
  done
  wait "$WRK_BG" || true; WRK_BG=
}

# check_body URL SIZE: the response is a 200 of the expected length, so that a fast
# server answering 404s (which wrk does not count as errors) cannot win a row.
check_body() {
  local got
  got=$(curl -sk -o /dev/null -m 10 -w '%{http_code} %{size_download}' "$1" || true)
  [[ $got == "200 $2" ]] || { echo "  $1 -> '$got', expected '200 $2': case skipped"; return 1; }
}

# The machine is shared: another process may signal or kill "our" servers (seen: a
# neighbour's test sending TTIN/HUP/TERM to every cppicorn on the box). So before each
# run a dead server is restarted (logged in restarts.tsv), and the worker pids before
# and after each run are recorded; the report flags runs whose workers changed.
ensure_up() {
  local inst=$1 out=$2
  kill -0 "${SRV_PID[$inst]:-0}" 2>/dev/null && return 0
  echo "  $inst is down; restarting it" >&2
  echo "SERVER_RESTARTED" >>"$out"
  cp "$RUN/logs/$inst.log" "$RES/$inst.died-$(date +%H%M%S).log" 2>/dev/null || true
  SERVERS_TSV=$RES/restarts.tsv start_one "$inst"
}

master_cpu_ms() {  # master_cpu_ms PID: user+system CPU time of that process so far, in ms
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}

run_case() {  # run_case CASE OUTFILE SECONDS
  local id scen inst label path hdr
  IFS='|' read -r id scen inst label path hdr <<<"$1"
  local args=(); [[ -n $hdr ]] && args=(-H "$hdr")
  local CONNS=$CONNS; [[ $id == asgisleep.* ]] && CONNS=$SLEEP_CONNS  # run_wrk's -c
  [[ $id == wsidle.* ]] && wsidle_fresh "$inst"  # a server that never held a connection
  local pre; pre=$(mktemp "$RUN/pre.XXXX")
  ensure_up "$inst" "$pre" || true
  local before; before=$(workers_of "${SRV_PID[$inst]:-0}")
  # ka.cppicorn-scraped: the same server and load as ka.cppicorn, with a scrape of /metrics
  # every 100 ms throughout (the scraper's SCRAPES line goes into the run's output).
  # The master's CPU time over the run (utime+stime, clock ticks), for the cppicorn row and
  # its scraped twin: the scrapes' cost shows there, steadier than req/s on a busy machine.
  local scraper= cpu0=
  [[ $inst == cppicorn ]] && cpu0=$(master_cpu_ms "${SRV_PID[$inst]:-0}")
  if [[ $id == *-scraped ]]; then
    "$PY" "$BENCH_DIR/lib/scrape.py" "127.0.0.1:$METRICS_PORT" 0.1 >"$pre.scrapes" & scraper=$!
  fi
  # TLS cases: the workers' CPU time over the run too (CPU per handshake or per request).
  local wcpu0=
  [[ $id == tls.* ]] && wcpu0=$(workers_cpu_ms "${SRV_PID[$inst]:-0}")
  case $id in
    tls.*.new.*)     run_handshakes "$2" "${SRV_PORT[$inst]}" "$3" -new ;;
    tls.*.resumed.*) run_handshakes "$2" "${SRV_PORT[$inst]}" "$3" -reuse ;;
    tls.*.resumed12.*) run_handshakes "$2" "${SRV_PORT[$inst]}" "$3" -reuse -tls1_2 ;;
    wsidle.*)        run_ws_idle "$2" "$inst" ;;
    *) if [[ $hdr == WS ]]; then  # the wsecho rows: WebSocket echo messages, not HTTP requests
         run_ws_echo "$2" "${SRV_PORT[$inst]}" "$3"
       else
         run_wrk "$2" "${SRV_SCHEME[$inst]:-http}://127.0.0.1:${SRV_PORT[$inst]}$path" "$3" "${args[@]}"
       fi ;;
  esac
  [[ -n $wcpu0 ]] &&
    echo "WORKERS_CPU_MS $(( $(workers_cpu_ms "${SRV_PID[$inst]:-0}") - wcpu0 ))" >>"$2"
  [[ -n $cpu0 ]] && echo "MASTER_CPU_MS $(( $(master_cpu_ms "${SRV_PID[$inst]:-0}") - cpu0 ))" >>"$2"
  if [[ -n $scraper ]]; then
    kill -TERM "$scraper" 2>/dev/null; wait "$scraper" || true
    cat "$pre.scrapes" >>"$2"; rm -f "$pre.scrapes"
  fi
  cat "$pre" >>"$2"; rm -f "$pre"
  [[ $before == "$(workers_of "${SRV_PID[$inst]:-0}")" ]] || echo "WORKERS_CHANGED" >>"$2"
  if [[ $inst == cppicorn-log ]]; then
    # Show the log was really written, then truncate it so repeated runs stay small.
    echo "ACCESSLOG_LINES $(wc -l <"$ACCESS_LOG" 2>/dev/null || echo 0)" >>"$2"
    : >"$ACCESS_LOG"
  fi
}
