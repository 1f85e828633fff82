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
# Error-log lines carry syslog priorities under journald: the SIGKILL report is an error,
# the "Booting worker" lines are info, so `journalctl -p warning` shows only the former.
# (No --after-cursor here: on systemd 252 it returns nothing once -p is combined with it; the
# victim's pid is unique anyway.)
reported() { inside journalctl -q --no-pager -u $U -p warning -o cat | grep -q "Worker (pid:$victim) was sent SIGKILL"; }
wait_for 10 reported
warn=$(inside journalctl -q --no-pager -u $U -p warning -o cat)
check d-journal-priorities $(echo "$warn" | grep -q "Worker (pid:$victim) was sent SIGKILL" && \
    ! echo "$warn" | grep -q "Booting worker"; echo $?) \
    "journalctl -p warning: '$(echo "$warn" | grep -m1 "was sent" )'; info lines excluded"
