#!/bin/bash
# h. A graceful stop that takes longer than TimeoutStopSec=: with TimeoutStopSec=2 (drop-in)
#    and a 5 s request in flight, the arbiter's EXTEND_TIMEOUT_USEC= keeps systemd from
#    killing it: the request completes with 200 and the stop ends in Result=success, not
#    timeout.
set -u; . "$SD_LIB"
U=cppicorn@slowstop.service R=$SD_WORK/h-request
conf slowstop <<CONF
app: diag:app
chdir: $SD_EXAMPLES
workers: 2
graceful_timeout: 20
CONF
dropin $U 50-test-stop <<'D'
[Service]
TimeoutStopSec=2
D
sc start $U || { fail h-stop-extend "start failed: $(prop $U ActiveState)"; exit 0; }
inside curl -sS --max-time 30 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8000/sleep?ms=5000' > "$R" 2>&1 &
cl=$!
wait_for 10 inflight 8000; f=$?
mark=$(journal_mark)
sc stop $U; rc=$?
wait $cl
code=$(cat "$R")
j=$(journal "$mark" -u $U -o cat | grep -m1 -i -E 'timed out|killing')
check h-stop-extend-timeout $([ $f = 0 ] && [ $rc = 0 ] && [ "$code" = 200 ] && \
    [ "$(prop $U Result)" = success ]; echo $?) \
    "TimeoutStopUSec=$(prop $U TimeoutStopUSec); request in flight: $([ $f = 0 ] && echo yes || echo no); stop rc=$rc; request → '$code'; Result=$(prop $U Result)${j:+; journal: '$j'}"
