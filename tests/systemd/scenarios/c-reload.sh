#!/bin/bash
# c. `systemctl reload` replaces every worker (pids before/after) while a client keeps
#    sending requests, none failing; the journal has systemd's Reloading/Reloaded lines.
set -u; . "$SD_LIB"
U=cppicorn@hello.service C=$SD_WORK/c-client

sc start $U || { fail c-reload "start failed: $(prop $U ActiveState)"; exit 0; }
mp=$(prop $U MainPID)
two_workers() { [ "$(nwords "$(children "$mp")")" = 2 ]; }
wait_for 10 two_workers
old=$(children "$mp")
mark=$(journal_mark)
client_loop "$C" http://127.0.0.1:8000/ &
cl=$!
client_wait_more "$C" 5
# three reloads in a row, each must replace both workers: none of the old ones is left and
# 2 new ones serve (the old workers finish what they accepted, the client must not notice)
rotated() {
    local now p; now=$(children "$mp")
    [ "$(nwords "$now")" = 2 ] || return 1
    for p in $old; do case " $now " in *" $p "*) return 1 ;; esac; done
}
# `systemctl reload` (ExecReload=cppicorn ctl reload) returns once the new workers serve: two
# children that were not there before, with no waiting after it returns.
new_serving() {
    local n=0 p; for p in $(children "$mp"); do case " $old " in *" $p "*) ;; *) n=$((n + 1)) ;; esac; done
    [ "$n" -ge 2 ]
}
rcs="" rots="" news="" hist="[$old]"
for i in 1 2 3; do
    sc reload $U; rcs="$rcs$?"
    new_serving; news="$news$?"
    wait_for 30 rotated; rots="$rots$?"
    old=$(children "$mp"); hist="$hist → [$old]"
    client_wait_more "$C" 5
done
wait_for 10 active $U
client_wait_more "$C" 20
touch "$C.stop"; wait $cl
ok=$(client_ok "$C"); bad=$(client_bad "$C")
check c-reload-rotates-workers $([ $rcs = 000 ] && [ $rots = 000 ] && [ "$(prop $U MainPID)" = "$mp" ] && active $U; echo $?) \
    "3 reloads: rc=$rcs rotated=$rots (0 = yes); MainPID $mp → $(prop $U MainPID); workers $hist; $(prop $U ActiveState)"
check c-reload-returns-when-serving $([ $news = 000 ]; echo $?) \
    "new workers serving as each \`systemctl reload\` returned: $news (0 = yes)"
check c-reload-no-failed-request $([ "$bad" = 0 ] && [ "$ok" -ge 35 ]; echo $?) \
    "client: $ok ok, $bad failed $(head -c 600 "$C.err" | tr '\n' ' ')"
j=$(journal "$mark" -u $U -o cat)
r1=$(echo "$j" | grep -m1 '^Reloading ')
r2=$(echo "$j" | grep -m1 '^Reloaded ')
check c-reload-journal $([ -n "$r1" ] && [ -n "$r2" ]; echo $?) "journal: '$r1' / '$r2'"

# A config the reload refuses: `systemctl reload` fails (cppicorn ctl reload exits 1 with the
# reason), the unit stays active and the same workers keep serving; once fixed, it succeeds.
good=$(cat "$SD_WORK/conf/hello.yaml")
before=$(children "$mp")
printf '%s\nwrokers: 3\n' "$good" | conf hello
out=$(sc reload $U 2>&1); rc=$?
body=$(http http://127.0.0.1:8000/)
why=$(journal "$mark" -u $U -o cat | grep -m1 'wrokers')
check c-reload-refused-fails $([ $rc != 0 ] && active $U && [ "$(children "$mp")" = "$before" ] && \
    [ "$body" = "Hello, World!" ] && [ -n "$why" ]; echo $?) \
    "broken config: reload rc=$rc, $(prop $U ActiveState), workers [$before] → [$(children "$mp")], curl '$body'; journal: '${why:-nothing naming wrokers}'"
printf '%s\n' "$good" | conf hello
sc reload $U; rc=$?
check c-reload-after-fix $([ $rc = 0 ] && active $U; echo $?) "fixed config: reload rc=$rc, $(prop $U ActiveState)"
