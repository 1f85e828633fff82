#!/bin/bash
# a. `systemctl start cppicorn@hello`: active, MainPID is the arbiter and its children the
#    workers (as user cppicorn), the default bind 127.0.0.1:8000 answers "Hello, World!",
#    `systemctl status` shows the arbiter's STATUS= line.
set -u; . "$SD_LIB"
U=cppicorn@hello.service

sc start $U; rc=$?
# What READY=1 came with, read before anything else: `start` returns on READY=1, which the
# arbiter sends only once both workers serve.
ready_text=$(prop $U StatusText)
st=$(prop $U ActiveState)
check a-start-active $([ $rc = 0 ] && [ "$st" = active ]; echo $?) "start rc=$rc ActiveState=$st SubState=$(prop $U SubState)"

mp=$(prop $U MainPID)
cmd=$(inside cat /proc/"$mp"/cmdline 2>/dev/null | tr '\0' ' ')
comm=$(inside cat /proc/"$mp"/comm 2>/dev/null)
# workers: the arbiter's children; wait for the configured 2 (READY=1 comes after they booted)
two_workers() { [ "$(nwords "$(children "$mp")")" = 2 ]; }
wait_for 10 two_workers
w=$(children "$mp")
users=$(for p in $mp $w; do inside ps -o user= -p "$p"; done | sort -u | tr '\n' ' ')
check a-mainpid-arbiter $([ "$mp" -gt 0 ] 2>/dev/null && echo "$cmd $comm" | grep -q cppicorn && \
    [ "$(nwords "$w")" = 2 ] && [ "$users" = "cppicorn " ]; echo $?) \
    "MainPID=$mp comm='$comm' cmdline='$cmd' workers=[$w] users=$users"

body=$(http http://127.0.0.1:8000/)
check a-http-hello $([ "$body" = "Hello, World!" ]; echo $?) "curl http://127.0.0.1:8000/ → '$body'"

stext=$(prop $U StatusText)
status=$(sc status $U 2>&1)
line=$(echo "$status" | grep 'Status: "')
# README: "2 of 2 workers serving, N requests served"
check a-status-line $(echo "$ready_text" | grep -Eq '^2 of 2 workers serving, [0-9]+ requests served' && \
    echo "$stext" | grep -Eq '^2 of 2 workers serving, [0-9]+ requests served' && [ -n "$line" ]; echo $?) \
    "at READY: '$ready_text'; now: '$stext'; systemctl status:${line}"
