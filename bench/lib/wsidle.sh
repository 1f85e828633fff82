# shellcheck shell=bash
# The wsidle rows for bench/run (sourced): memory per idle WebSocket. Each round starts
# the server afresh (so "before" is a server that never held a connection, not one whose
# allocator kept the last round's memory), reads the PSS and RSS of its master and
# workers, opens WS_IDLE_N WebSockets with lib/ws_idle_hold.c, reads them again once all
# are open and idle, and writes one line to the run's output:
#   WSIDLE <opened> <failed> <open_ms> <pss_before_kb> <pss_after_kb> <rss_before_kb> <rss_after_kb>
# Uses the globals of bench/run and servers.sh (RUN, SRV_PID, SRV_PORT, WRK_BG, WS_IDLE_N).

# The master's and its workers' pids.
server_pids() { echo "$1 $(workers_of "$1")"; }

# wsidle_fresh INST: restart INST so the round measures a server that held nothing yet.
wsidle_fresh() {
  stop_server "$1"
  SERVERS_TSV=/dev/null start_one "$1" >/dev/null
}

run_ws_idle() {  # run_ws_idle OUT INST
  local out=$1 inst=$2 bin=$RUN/ws_idle_hold pids pss0 rss0 line i
  [[ -x $bin ]] || cc -O2 -o "$bin" "$BENCH_DIR/lib/ws_idle_hold.c" || return 1
  read -ra pids <<<"$(server_pids "${SRV_PID[$inst]:-0}")"
  pss0=$(proc_kb Pss smaps_rollup "${pids[@]}"); rss0=$(proc_kb VmRSS status "${pids[@]}")
  "$bin" 127.0.0.1 "${SRV_PORT[$inst]}" "$WS_IDLE_N" >"$out.hold" 2>"$out.err" & WRK_BG=$!
  # Handshakes take ~1 s for cppicorn and some seconds for a Python server; bounded.
  for (( i = 0; i < 1200; i++ )); do
    grep -q '^OPEN ' "$out.hold" 2>/dev/null && break
    kill -0 "$WRK_BG" 2>/dev/null || break
    sleep 0.1
  done
  sleep 2  # let the server's tasks reach their idle wait (receive()) and settle
  line=$(grep '^OPEN ' "$out.hold" || echo "OPEN 0 $WS_IDLE_N 0")
  read -ra pids <<<"$(server_pids "${SRV_PID[$inst]:-0}")"  # workers as they are now
  echo "WSIDLE ${line#OPEN } $pss0 $(proc_kb Pss smaps_rollup "${pids[@]}") $rss0" \
    "$(proc_kb VmRSS status "${pids[@]}")" >"$out"
  kill -TERM "$WRK_BG" 2>/dev/null; wait "$WRK_BG" 2>/dev/null || true; WRK_BG=
  head -n 5 "$out.err" >>"$out"; rm -f "$out.hold" "$out.err"
}
