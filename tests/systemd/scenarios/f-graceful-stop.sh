#!/bin/bash
# f. `systemctl stop` while a /sleep?ms=3000 request is in flight: it completes with 200 and
#    the unit stops cleanly.
set -u; . "$SD_LIB"
U=cppicorn@diag.service R=$SD_WORK/f-request
conf diag <<CONF
app: diag:app
chdir: $SD_EXAMPLES
workers: 2
CONF
sc start $U || { fail f-graceful-stop "start failed: $(prop $U ActiveState)"; exit 0; }
inside curl -sS --max-time 30 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8000/sleep?ms=3000' > "$R" 2>&1 &
cl=$!
wait_for 10 inflight 8000; f=$?
sc stop $U; rc=$?
wait $cl
code=$(cat "$R")
check f-inflight-request-completes $([ $f = 0 ] && [ $rc = 0 ] && [ "$code" = 200 ]; echo $?) \
    "request seen in flight: $([ $f = 0 ] && echo yes || echo no); stop rc=$rc; request → '$code'"
check f-clean-stop $([ "$(prop $U ActiveState)" = inactive ] && [ "$(prop $U Result)" = success ]; echo $?) \
    "ActiveState=$(prop $U ActiveState) Result=$(prop $U Result) ExecMainStatus=$(prop $U ExecMainStatus)"
