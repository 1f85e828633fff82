#!/usr/bin/env bash
# Fuzzes the HTTP parser, the WebSocket frame decoder, the control protocol and the PROXY
# protocol header: run.sh BUILD_DIR [SECONDS]
#
# Configures BUILD_DIR with clang and -DCPPICORN_FUZZ=ON if it has no CMakeCache yet, builds
# the fuzzers, seeds corpora from tests/conformance/cases and tests/conformance/ws, runs each
# target for SECONDS (default 60) and prints executions and exec/s. Exits non-zero if any
# target crashed; crash inputs are left in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPPICORN_FUZZ=ON \
    -DCPPICORN_TESTS=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
cmake --build "$build" --target fuzz_request_parser fuzz_chunked fuzz_ws_frames fuzz_control \
  fuzz_proxy_header fuzz_seeds -j2 >/dev/null

corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
mkdir -p "$corpus/request" "$corpus/chunked" "$corpus/ws" "$corpus/control" "$corpus/proxy" \
  "$artifacts"
"$build/tests/fuzz/fuzz_seeds" "$src/tests/conformance/cases" "$corpus/request" "$corpus/chunked" \
  "$src/tests/conformance/ws" "$corpus/ws"
printf 'status --json' >"$corpus/control/status"
printf 'workers +2' >"$corpus/control/workers"
printf 'reload' >"$corpus/control/reload"
printf 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n' >"$corpus/proxy/v1"
printf 'PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n' >"$corpus/proxy/v1-6"
printf 'PROXY UNKNOWN\r\n' >"$corpus/proxy/unknown"
# v2: signature, PROXY over TCP/IPv4, 12 address bytes, then an ALPN TLV (type 1)
printf '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x11\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb\x01\x00\x02h2\x16\x03\x01' \
  >"$corpus/proxy/v2"
printf '\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00' >"$corpus/proxy/v2-local"

status=0
for target in fuzz_request_parser fuzz_chunked fuzz_ws_frames fuzz_control fuzz_proxy_header; do
  dir=$corpus/request
  [[ $target == fuzz_chunked ]] && dir=$corpus/chunked
  [[ $target == fuzz_ws_frames ]] && dir=$corpus/ws
  [[ $target == fuzz_control ]] && dir=$corpus/control
  [[ $target == fuzz_proxy_header ]] && dir=$corpus/proxy
  log=$build/$target.log
  result=ok
  if ! "$build/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/$target-" "$dir" >"$log" 2>&1; then
    result=CRASH
    status=1
  fi
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
  echo "$target: $result, ${execs:-?} executions, ${rate:-?} exec/s, log $log"
  if [[ $result == CRASH ]]; then
    grep -E "ERROR|invariant|disagrees|Test unit written" "$log" | head -5 || true
  fi
done
exit $status
