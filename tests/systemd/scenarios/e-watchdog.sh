#!/bin/bash
# e. Watchdog: WatchdogSec=3 (drop-in), the diag app with 2 workers, 2 concurrent /wedge
#    requests wedge every worker → the pings stop, systemd kills the service (Result=watchdog,
#    seen in the journal) and Restart=on-failure brings it back, serving again.
set -u; . "$SD_LIB"
U=cppicorn@wd.service
conf wd <<CONF
app: diag:app
chdir: $SD_EXAMPLES
workers: 2
CONF
dropin $U 50-test-watchdog <<'D'
[Service]
WatchdogSec=3
D
sc start $U || { fail e-watchdog "start failed: $(prop $U ActiveState)"; exit 0; }
mp=$(prop $U MainPID); wdus=$(prop $U WatchdogUSec)
nr0=$(prop $U NRestarts)
pid_ok=$(http http://127.0.0.1:8000/pid)
mark=$(journal_mark)
inside curl -s --max-time 40 -o /dev/null http://127.0.0.1:8000/wedge & c1=$!
inside curl -s --max-time 40 -o /dev/null http://127.0.0.1:8000/wedge & c2=$!
restarted() { [ "$(prop $U NRestarts)" -gt "$nr0" ] && active $U && [ "$(prop $U MainPID)" != "$mp" ]; }
wait_for 45 restarted; r=$?
j=$(journal "$mark" -u $U -o cat)
wdline=$(echo "$j" | grep -m1 -i 'watchdog timeout')
resline=$(echo "$j" | grep -m1 "Failed with result 'watchdog'")
body=$(http http://127.0.0.1:8000/pid)
newmp=$(prop $U MainPID)
check e-watchdog-restart $([ $r = 0 ] && [ -n "$wdline" ] && [ -n "$resline" ]; echo $?) \
    "WatchdogUSec=$wdus before: /pid → '$pid_ok'; MainPID $mp → $newmp, NRestarts $nr0 → $(prop $U NRestarts); journal: '$wdline' / '$resline'"
check e-serves-after-restart $([ -n "$body" ] && echo "$body" | grep -qx '[0-9]\+' && \
    case " $(children "$newmp") " in *" $body "*) true ;; *) false ;; esac; echo $?) \
    "after the restart /pid → '$body', workers of $newmp: [$(children "$newmp")]"
kill $c1 $c2 2>/dev/null; wait 2>/dev/null
