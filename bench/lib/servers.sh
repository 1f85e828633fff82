# shellcheck shell=bash
# Starting, probing and stopping the servers under test. Sourced by bench/run, which
# sets RUN (scratch dir), RES (results dir), START_TIMEOUT and the *_BIN paths.
#
# Every server is started in its own session (setsid) so that its process-group id is
# its master's pid: stopping it is then `kill -- -PGID`, which reaches the workers too,
# even when the master has already died, and never touches a process we did not start.

declare -A SRV_PID=()   # server name -> master pid (== its process group id)
declare -A SRV_PORT=()  # server name -> port on 127.0.0.1
declare -A SRV_SCHEME=()  # server name -> https for the TLS instances (default http)

# Sum of a /proc field (kB) over pids: proc_kb FIELD FILE PID...
proc_kb() {
  local field=$1 file=$2 total=0 v p; shift 2
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/$file" 2>/dev/null)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}

# Worker pids = direct children of the master. That holds for all five servers as we
# start them (no uWSGI HTTP router, no nginx cache manager, gunicorn has no helpers).
workers_of() { pgrep -P "$1" 2>/dev/null | tr '\n' ' '; }

# start_server NAME PORT PROBE_PATH CMD... : start, time launch-to-first-200, record
# idle RSS. Appends one line to $SERVERS_TSV; returns 1 (server marked missing) if it
# does not answer 200 within START_TIMEOUT seconds.
start_server() {
  local name=$1 port=$2 probe=$3; shift 3
  local log="$RUN/logs/$name.log" t0 now code pid
  if ss -Htln "sport = :$port" | grep -q .; then
    echo "  $name: port $port already in use, skipping" >&2
    printf '%s\t%s\t\t\t\t\t\t\tport-busy\n' "$name" "$port" >>"$SERVERS_TSV"
    return 1
  fi
  t0=$(date +%s%N)
  setsid "$@" >"$log" 2>&1 </dev/null &
  pid=$!
  SRV_PID[$name]=$pid; SRV_PORT[$name]=$port
  # Poll with a fresh curl every 20 ms: this is what a load balancer's health check or
  # `systemctl start && curl` sees, including interpreter start-up and app import.
  while :; do
    code=$(curl -sk -o /dev/null -m 1 -w '%{http_code}' \
      "${SRV_SCHEME[$name]:-http}://127.0.0.1:$port$probe" || true)
    [[ $code == 200 ]] && break
    now=$(date +%s%N)
    if ! kill -0 "$pid" 2>/dev/null || (( now - t0 > START_TIMEOUT * 1000000000 )); then
      echo "  $name: no 200 within ${START_TIMEOUT}s (last status '$code'); log tail:" >&2
      tail -n 5 "$log" | sed 's/^/    /' >&2
      printf '%s\t%s\t\t\t\t\t\t\tno-200\n' "$name" "$port" >>"$SERVERS_TSV"
      stop_server "$name"
      return 1
    fi
    sleep 0.02
  done
  local launch_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  # The first 200 may come before every worker is forked; wait (bounded) for both, then
  # let them settle so the RSS we read is the idle footprint, not a start-up transient.
  local tries=0 w=()
  while (( tries++ < 50 )); do
    read -ra w <<<"$(workers_of "$pid")"
    (( ${#w[@]} >= WORKERS )) && break
    sleep 0.1
  done
  sleep 1
  read -ra w <<<"$(workers_of "$pid")"
  local n=${#w[@]} rss pss mrss
  rss=$(proc_kb VmRSS status "${w[@]}"); pss=$(proc_kb Pss smaps_rollup "${w[@]}")
  mrss=$(proc_kb VmRSS status "$pid")
  (( n > 0 )) && { rss=$(( rss / n )); pss=$(( pss / n )); }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tok\n' "$name" "$port" "$pid" "$launch_ms" \
    "$n" "$rss" "$pss" "$mrss" >>"$SERVERS_TSV"
  printf '  %-18s port %-5s launch-to-200 %5s ms, %s workers, idle RSS/worker %s kB\n' \
    "$name" "$port" "$launch_ms" "$n" "$rss"
}

# Graceful stop (SIGTERM to the whole group, 5 s grace), then SIGKILL. Bounded.
stop_server() {
  local name=$1 pid=${SRV_PID[$1]:-} i
  [[ -n $pid ]] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for (( i = 0; i < 50; i++ )); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'SRV_PID[$name]'
}

stop_all() {
  local name
  for name in "${!SRV_PID[@]}"; do stop_server "$name"; done
}

# ---- command lines, returned in the array CMD (no word-splitting surprises). Each server: 2 worker processes, 127.0.0.1 only, no request log
# (cppicorn's default), so the hello rows compare the request path and nothing else.

cmd_cppicorn() {  # PORT APP [extra args]
  local port=$1 app=$2; shift 2
  CMD=("$CPPICORN_BIN" -w "$WORKERS" -b "127.0.0.1:$port" --chdir "$CPPICORN_BUILD/examples" "$@" "$app")
}

cmd_gunicorn() {  # PORT [extra args]; Debian's gunicorn runs on Debian's python3
  local port=$1; shift
  CMD=(gunicorn -w "$WORKERS" -b "127.0.0.1:$port" --chdir "$BENCH_DIR/apps" "$@" "${APP:-hello_wsgi}:app")
}

# uWSGI speaking HTTP itself (--http-socket: no separate router process in front).
# --die-on-term: without it uWSGI 2.0 treats SIGTERM as "reload". --disable-logging:
# uWSGI logs every request by default, the others don't.
cmd_uwsgi() {  # PORT [extra args]; APP=io_wsgi for the I/O-bound app
  local port=$1; shift
  CMD=(uwsgi --plugin python3 "--$UWSGI_SOCKET" "127.0.0.1:$port" --master
    --processes "$WORKERS" --chdir "$BENCH_DIR/apps" --wsgi-file "${APP:-hello_wsgi}.py"
    --disable-logging --die-on-term --need-app --listen 1024 "$@")
}

# nginx with a private prefix and config; `daemon off` keeps the master our child so
# that setsid/kill work as for the others. Never the system service or its config.
cmd_nginx() {  # PORT [listen parameter, e.g. deferred]
  local dir="$RUN/nginx${2:+-$2}"
  write_nginx_conf "$dir" "$1${2:+ $2}" ""
  CMD=(nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log")
}

# write_nginx_conf DIR LISTEN EXTRA: the config every nginx row shares (2 workers, no
# access log, the hello location and /static/), with EXTRA lines in its http block.
write_nginx_conf() {
  local dir=$1 listen=$2 extra=$3
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  sendfile on;
$extra
  server {
    listen 127.0.0.1:$listen;
    location = / { default_type text/plain; return 200 "Hello, World!\n"; }
    location /static/ { alias $RUN/www/; default_type application/octet-stream; }
  }
}
EOF
}
