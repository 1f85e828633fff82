#!/bin/bash
# i. USR2 binary upgrade under systemd: `systemctl kill -s USR2 --kill-who=main` with a new
#    build on disk hands MAINPID to the new master while a client keeps sending requests
#    (none failing), the unit stays active, responses come from the new build, and systemd
#    takes the new master's watchdog pings. Then a USR2 to a binary that cannot start: the
#    old master keeps serving and MainPID stays.
set -u; . "$SD_LIB"
U=cppicorn@up.service C=$SD_WORK/i-client
BIN=$SD_STAGE/usr/local/bin/cppicorn
NEXT=$BUILD/tests/cppicorn-next
[ -x "$NEXT" ] || { fail i-upgrade "no $NEXT (build the cppicorn-next target)"; exit 0; }
cp -p "$BIN" "$SD_WORK/cppicorn.orig"
# Swap the binary on disk as a package upgrade does: a new inode at the same path.
swap_in() { cp "$1" "$BIN.new" && chmod 755 "$BIN.new" && mv "$BIN.new" "$BIN"; }
restore() { swap_in "$SD_WORK/cppicorn.orig"; }
trap restore EXIT

conf up <<YAML
bind: [127.0.0.1:8001]
workers: 2
app: diag:app
chdir: $SD_EXAMPLES
YAML
dropin $U watchdog <<'UNIT'
[Service]
WatchdogSec=2
UNIT
sc start $U || { fail i-upgrade "start failed: $(prop $U ActiveState)"; exit 0; }
mp=$(prop $U MainPID)
v1=$(http http://127.0.0.1:8001/version)
mark=$(journal_mark)
client_loop "$C" http://127.0.0.1:8001/ &
cl=$!
client_wait_more "$C" 5

swap_in "$NEXT"
sc kill -s USR2 --kill-who=main $U
handed() { local n; n=$(prop $U MainPID); [ "$n" != "$mp" ] && [ "$n" != 0 ] && ! inside kill -0 "$mp" 2>/dev/null; }
wait_for 30 handed; h=$?
new=$(prop $U MainPID)
newer() { [ "$(http http://127.0.0.1:8001/version)" = "$v1-next" ]; }
wait_for 10 newer; nv=$?
# systemd records each accepted WATCHDOG=1: a later timestamp comes from the new master.
wd0=$(prop $U WatchdogTimestampMonotonic)
pinged() { [ "$(prop $U WatchdogTimestampMonotonic)" != "$wd0" ]; }
wait_for 10 pinged; wd=$?
client_wait_more "$C" 20
touch "$C.stop"; wait $cl
ok=$(client_ok "$C"); bad=$(client_bad "$C")
title=$(inside cat /proc/"$new"/cmdline 2>/dev/null | tr '\0' ' ')
check i-upgrade-mainpid $([ $h = 0 ] && active $U && [ "$(prop $U NRestarts)" = 0 ]; echo $?) \
    "MainPID $mp → $new ($title), $(prop $U ActiveState), NRestarts=$(prop $U NRestarts)"
check i-upgrade-new-build $([ $nv = 0 ]; echo $?) "version $v1 → $(http http://127.0.0.1:8001/version)"
check i-upgrade-watchdog-follows $([ $wd = 0 ] && active $U; echo $?) \
    "watchdog timestamp $wd0 → $(prop $U WatchdogTimestampMonotonic) after the hand-over"
check i-upgrade-no-failed-request $([ "$bad" = 0 ] && [ "$ok" -ge 25 ]; echo $?) \
    "client: $ok ok, $bad failed $(head -c 600 "$C.err" | tr '\n' ' ')"

# A binary that cannot start: the running master stays the service.
mp=$new
mark=$(journal_mark)
swap_in /dev/stdin <<'SH'
#!/bin/sh
exit 1
SH
sc kill -s USR2 --kill-who=main $U
failed_upgrade() { journal "$mark" -u $U -o cat | grep -q 'Upgrade failed: new master exited with code 1'; }
wait_for 20 failed_upgrade; fu=$?
code=$(http_code http://127.0.0.1:8001/)
check i-upgrade-failed-keeps-serving $([ $fu = 0 ] && [ "$(prop $U MainPID)" = "$mp" ] && active $U && [ "$code" = 200 ]; echo $?) \
    "journal: '$(journal "$mark" -u $U -o cat | grep -m1 'Upgrade failed')'; MainPID $(prop $U MainPID); HTTP $code"

# Stopping right after an upgrade is still graceful: the new master, reparented to systemd
# when the old one exits, says MAINPID again, so systemd supervises it as its own child
# instead of "a process which is not our child" that it cannot wait for (which ended in
# SIGKILL for the whole unit). A request in flight during the stop completes.
mark=$(journal_mark)
swap_in "$NEXT"
sc kill -s USR2 --kill-who=main $U
mp2=$mp
handed2() { local n; n=$(prop $U MainPID); [ "$n" != "$mp2" ] && [ "$n" != 0 ] && ! inside kill -0 "$mp2" 2>/dev/null; }
wait_for 30 handed2
inside curl -s --max-time 20 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8001/sleep?ms=2500' > "$SD_WORK/i-inflight" &
inflight_pid=$!
wait_for 10 inflight 8001
sc stop $U; src=$?
wait $inflight_pid
code=$(cat "$SD_WORK/i-inflight")
check i-stop-after-upgrade-graceful $([ $src = 0 ] && [ "$code" = 200 ] && [ "$(prop $U Result)" = success ]; echo $?) \
    "stop rc=$src right after the hand-over; in-flight request: HTTP $code; Result=$(prop $U Result); $(journal "$mark" -u $U -o cat | grep -m1 -i 'not our child' || echo 'no not-our-child warning after the new master re-announced itself')"
