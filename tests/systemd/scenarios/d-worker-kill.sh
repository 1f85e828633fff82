#!/bin/bash
# d. A worker killed with SIGKILL is replaced (a new pid, the count restored), the arbiter
#    and the unit carry on.
set -u; . "$SD_LIB"
U=cppicorn@hello.service

sc start $U || { fail d-worker-kill "start failed: $(prop $U ActiveState)"; exit 0; }
mp=$(prop $U MainPID)
two_workers() { [ "$(nwords "$(children "$mp")")" = 2 ]; }
wait_for 10 two_workers
old=$(children "$mp"); victim=${old%% *}
inside kill -KILL "$victim"
replaced() {
    local now; now=$(children "$mp")
    [ "$(nwords "$now")" = 2 ] && case " $now " in *" $victim "*) return 1 ;; esac
}
wait_for 20 replaced; ok=$?
now=$(children "$mp")
body=$(http http://127.0.0.1:8000/)
check d-worker-replaced $([ $ok = 0 ] && [ "$(prop $U MainPID)" = "$mp" ] && active $U && \
    [ "$body" = "Hello, World!" ]; echo $?) \
    "killed $victim of [$old] → [$now]; MainPID $mp → $(prop $U MainPID), $(prop $U ActiveState), NRestarts=$(prop $U NRestarts); then '$body'"
