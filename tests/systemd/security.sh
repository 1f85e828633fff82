#!/bin/bash
# tests/systemd/security.sh BUILD_DIR [MAX] — offline `systemd-analyze security` of the
# installed cppicorn@.service (as the instance cppicorn@hello.service; systemd 252 cannot
# rate a template), failing above MAX (default 0.9, the rating README promises). Needs neither root nor a container;
# run.sh also rates the unit online, as loaded by the container's systemd.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [MAX]" >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
BUILD=$1 MAX=${2:-0.9}
work=$(mktemp -d "${TMPDIR:-/tmp}/cppicorn-sec.XXXXXX")
trap 'rm -rf "$work"' EXIT
DESTDIR=$work/stage cmake --install "$BUILD" --prefix /usr > "$work/install.log" 2>&1 ||
    { cat "$work/install.log"; exit 2; }
mkdir -p "$work/units"
cp "$work/stage/usr/lib/systemd/system/cppicorn@.service" "$work/units/cppicorn@hello.service"
threshold=$(awk -v m="$MAX" 'BEGIN{printf "%d", m*10+0.5}')
out=$(systemd-analyze security --no-pager --offline=true --threshold="$threshold" \
      "$work/units/cppicorn@hello.service" 2>&1)
rc=$?
echo "$out" | grep -E '^✗|Overall'
score=$(echo "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
if [ $rc = 0 ] && [ -n "$score" ]; then echo "PASS security-offline — exposure $score <= $MAX"
else echo "FAIL security-offline — exposure ${score:-?} > $MAX (rc=$rc)"; exit 1; fi
