#!/bin/bash
# b. Socket activation: with cppicorn@hello.socket listening the service stays inactive until
#    the first connection, which is answered; then `systemctl restart` of the service while
#    a client keeps sending requests over the unix socket: not one fails.
set -u; . "$SD_LIB"
S=cppicorn@hello.socket U=cppicorn@hello.service SOCK=/run/cppicorn/hello.sock
C=$SD_WORK/b-client

mark=$(journal_mark)
sc start $S; rc=$?
before=$(prop $U ActiveState)
ls=$(inside stat -c '%U:%G %a %F' $SOCK 2>&1)
# cppicorn.systemd(7): the socket is root:cppicorn, mode 0660
check b-socket-listening $([ $rc = 0 ] && [ "$(prop $S ActiveState)" = active ] && [ "$before" = inactive ] && \
    [ "$ls" = "root:cppicorn 660 socket" ]; echo $?) \
    "socket rc=$rc $(prop $S ActiveState), service before any connection: $before; $SOCK: $ls"

body=$(http --unix-socket $SOCK http://localhost/)
# a worker may answer before systemd has processed the arbiter's READY=1: wait for it
wait_for 10 active $U
after=$(prop $U ActiveState)
names=$(inside sh -c "tr '\0' '\n' < /proc/$(prop $U MainPID)/environ" 2>/dev/null | grep '^LISTEN_FDNAMES=')
check b-activation $([ "$body" = "Hello, World!" ] && [ "$after" = active ]; echo $?) \
    "first connection → '$body', service now $after (${names:-LISTEN_FDNAMES cleared from the environment})"

listening=$(journal "$mark" -u $U -o cat | grep -m1 'Listening at')
note "arbiter: '${listening:-no Listening at line}'"

mp1=$(prop $U MainPID)
client_loop "$C" --unix-socket $SOCK http://localhost/ &
cl=$!
client_wait_more "$C" 5
sc restart $U; rc=$?
mp2=$(prop $U MainPID)
client_wait_more "$C" 20
touch "$C.stop"; wait $cl
ok=$(client_ok "$C"); bad=$(client_bad "$C")
# the service's RuntimeDirectory=cppicorn/%i went away on stop; the socket's path must not
sockfile=$(inside stat -c %F $SOCK 2>&1)
check b-socket-survives-restart $([ "$sockfile" = socket ] && [ "$(prop $S ActiveState)" = active ]; echo $?) \
    "$SOCK after the restart: $sockfile; $S $(prop $S ActiveState)"
check b-restart-no-failed-request $([ $rc = 0 ] && [ "$bad" = 0 ] && [ "$ok" -ge 25 ] && \
    [ "$mp1" != "$mp2" ] && active $U; echo $?) \
    "restart rc=$rc MainPID $mp1 → $mp2; client: $ok ok, $bad failed $(head -c 600 "$C.err" | tr '\n' ' ')"

# The socket by name: `bind: [fd://http]` (FileDescriptorName=http) instead of "all sockets".
conf named <<CONF
app: hello:app
chdir: $SD_EXAMPLES
workers: 1
bind: [fd://http]
CONF
sc start cppicorn@named.socket
body=$(http --unix-socket /run/cppicorn/named.sock http://localhost/)
wait_for 10 active cppicorn@named.service
check b-bind-fd-name $([ "$body" = "Hello, World!" ] && active cppicorn@named.service; echo $?) \
    "bind fd://http → '$body', cppicorn@named.service $(prop cppicorn@named.service ActiveState)"

# The TCP drop-in documented in cppicorn@.socket, verbatim.
conf tcp <<CONF
app: hello:app
chdir: $SD_EXAMPLES
workers: 1
CONF
dropin cppicorn@tcp.socket 50-tcp <<'D'
[Socket]
ListenStream=
ListenStream=127.0.0.1:8001
D
sc start cppicorn@tcp.socket
listens=$(prop cppicorn@tcp.socket Listen)
body=$(http http://127.0.0.1:8001/)
check b-tcp-socket-dropin $([ "$body" = "Hello, World!" ] && [ "$listens" = "127.0.0.1:8001 (Stream)" ]; echo $?) \
    "socket Listen=$listens; curl http://127.0.0.1:8001/ → '$body'"
