# shellcheck shell=bash
# The TLS group of bench/run (sourced; "tls" in BENCH_SERVERS): test certificates, nginx's
# TLS config, and the handshake runs. cppicorn and nginx get the same certificate and key,
# the same protocols (TLS 1.2 and 1.3: both negotiate 1.3) and OpenSSL's default ciphers,
# 2 workers; nginx with its shared session cache and tickets on. Keep-alive and 1 MiB rows are wrk over https (run_case); handshakes/s are
# BENCH_TLS_CLIENTS parallel `openssl s_time` clients, -new (full) or -reuse (resumed), one
# request per connection. Every TLS run also records the CPU time the server's workers
# spent (utime+stime from /proc), so the report can give CPU per handshake or per request:
# on a shared machine that is steadier than a rate. Uses RUN, WORKERS, SRV_PID, MIB.

TLS_CLIENTS=${BENCH_TLS_CLIENTS:-2}

# tls_certs: a self-signed ECDSA P-256 and an RSA 2048 certificate for localhost, in $RUN/tls.
tls_certs() {
  mkdir -p "$RUN/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/tls/ec.key" \
    -out "$RUN/tls/ec.pem" -days 2 -subj /CN=localhost 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RUN/tls/rsa.key" -out "$RUN/tls/rsa.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
  chmod 644 "$RUN"/tls/*  # nginx reads them as root; nothing secret in a bench key
}

# cmd_nginx_tls PORT KIND: nginx as cmd_nginx, but ssl on KIND's (ec|rsa) certificate.
cmd_nginx_tls() {
  local port=$1 kind=$2 dir="$RUN/nginx-tls-$2"
  # nginx 1.22's default is TLSv1 TLSv1.1 TLSv1.2 (TLSv1.3 joined the default in 1.23.4):
  # without ssl_protocols nginx resumes over TLS 1.2, with no key exchange at all, and its
  # "resumed handshakes" are not the TLS 1.3 ones cppicorn does (min 1.2, max 1.3).
  write_nginx_conf "$dir" "$port ssl" "  ssl_certificate $RUN/tls/$kind.pem;
  ssl_certificate_key $RUN/tls/$kind.key;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  ssl_protocols TLSv1.2 TLSv1.3;"
  CMD=(nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log")
}

# workers_cpu_ms MASTER_PID: user+system CPU ms of the master's children (the workers).
workers_cpu_ms() {
  local total=0 p
  for p in $(workers_of "$1"); do total=$(( total + $(master_cpu_ms "$p") )); done
  echo "$total"
}

# run_handshakes OUT PORT SECONDS -new|-reuse [S_TIME_ARG...]: TLS_CLIENTS parallel s_time
# clients (-tls1_2: that version; both servers also take TLS 1.3), each
# sending "GET / HTTP/1.0" per connection. Writes a HANDSHAKES line: connections, wall
# microseconds, and how many were resumed (s_time prints one 'r' per resumed connection).
# The rate is connections per wall second; s_time's own "connections/user sec" divides by
# the *client's* CPU time, which says nothing about the server.
run_handshakes() {
  local out=$1 port=$2 secs=$3 mode=$4 i t0 t1 conns=0 reused=0 n r pids=() extra=("${@:5}")
  echo "LOADAVG_BEFORE $(cut -d' ' -f1 /proc/loadavg)" >"$out"
  t0=$(date +%s%N)
  for (( i = 1; i <= TLS_CLIENTS; i++ )); do
    timeout -k 5 $(( secs + 30 )) openssl s_time -connect "127.0.0.1:$port" "$mode" "${extra[@]}" \
      -time "$secs" -www / >"$out.c$i" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true  # these clients only: a bare wait would wait for the servers too
  t1=$(date +%s%N)
  for (( i = 1; i <= TLS_CLIENTS; i++ )); do
    # "N connections in X.XXs; ..." (the timed loop; -reuse adds one untimed first one).
    n=$(awk '/connections in [0-9.]+s;/ {print $1; exit}' "$out.c$i")
    # The progress characters: 'r' resumed, '*' or a version letter for a full handshake.
    r=$(awk '/^starting$/ {on = 1; next} on && /connections in/ {exit}
             on {gsub(/[^r]/, ""); c += length($0)} END {print c + 0}' "$out.c$i")
    [[ -n $n ]] || { echo "S_TIME_FAILED $(head -c 200 "$out.c$i" | tr '\n' ' ')" >>"$out"; n=0; }
    conns=$(( conns + n )); reused=$(( reused + r ))
    rm -f "$out.c$i"
  done
  echo "HANDSHAKES $conns $(( (t1 - t0) / 1000 )) $reused" >>"$out"
  echo "LOADAVG_AFTER $(cut -d' ' -f1 /proc/loadavg)" >>"$out"
}
