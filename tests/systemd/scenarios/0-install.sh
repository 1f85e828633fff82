#!/bin/bash
# 0. The installed units are the ones systemd loads, they verify clean, the sysusers.d entry
#    made the user, and the hardening scores at most 2.0 in `systemd-analyze security`.
set -u; . "$SD_LIB"

frag=$(prop cppicorn@hello.service FragmentPath)
sfrag=$(prop cppicorn@hello.socket FragmentPath)
check install-units-loaded $([ "$frag" = /usr/local/lib/systemd/system/cppicorn@.service ] && \
    [ "$sfrag" = /usr/local/lib/systemd/system/cppicorn@.socket ]; echo $?) \
    "FragmentPath=$frag, socket: $sfrag"

u=$(inside getent passwd cppicorn); g=$(inside getent group cppicorn)
check install-sysusers $([ -n "$u" ] && [ -n "$g" ]; echo $?) "passwd: '$u' group: '$g'"

out=$(inside systemd-analyze verify --man=no cppicorn@hello.service cppicorn@hello.socket 2>&1); rc=$?
check install-verify $([ $rc = 0 ] && [ -z "$out" ]; echo $?) "systemd-analyze verify rc=$rc ${out:+output: $out}"

sec=$(inside systemd-analyze security --no-pager cppicorn@hello.service 2>&1)
score=$(echo "$sec" | sed -n 's/^.*Overall exposure level for cppicorn@hello.service: \([0-9.]*\).*/\1/p')
check security-score $([ -n "$score" ] && awk -v s="$score" 'BEGIN{exit !(s<=0.9)}'; echo $?) \
    "systemd-analyze security (online, in the container): ${score:-?} (README: 0.9)"
echo "$sec" | grep '^✗' | sed 's/^/     /'

# The unit's IPAddressDeny=any/IPAddressAllow=localhost only means something if this
# container's systemd enforces it (BPF; nspawn must allow bpf(), see lib.sh): a unit with the
# same filter must reach a local server on 127.0.0.1 but not on a non-loopback address.
inside ip addr add 10.211.0.1/32 dev lo 2>/dev/null
inside systemd-run -q -u sdtest-httpd -p DynamicUser=yes /usr/bin/python3 -m http.server \
    --bind 0.0.0.0 --directory /usr/share 9099 >/dev/null 2>&1
up() { inside curl -s -o /dev/null --max-time 2 http://10.211.0.1:9099/; }
wait_for 10 up
fw() { inside systemd-run -q --wait -P -p IPAddressDeny=any -p IPAddressAllow=localhost \
       curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null; }
lo=$(fw http://127.0.0.1:9099/); other=$(fw http://10.211.0.1:9099/)
check harness-ip-firewall $([ "$lo" = 200 ] && [ "$other" = 000 ]; echo $?) \
    "with IPAddressDeny=any IPAddressAllow=localhost: 127.0.0.1 → $lo, 10.211.0.1 → ${other:-?} (000 = blocked)"
inside systemctl stop sdtest-httpd 2>/dev/null
