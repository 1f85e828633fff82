#!/bin/bash
# tests/systemd/run.sh BUILD_DIR [SCENARIO…] — cppicorn against a real systemd.
#
# Installs BUILD_DIR (cmake --install, DESTDIR staging, prefix /usr/local), boots the host's
# systemd ONCE in a throw-away systemd-nspawn container (see lib.sh), runs every
# scenarios/*.sh (or those whose name starts with one of the SCENARIO arguments, e.g. `a c`)
# each in its own bash with a time limit, resets the cppicorn units between them, prints
# PASS/FAIL lines (and, for a scenario that failed, the container's journal since it began)
# and tears everything down, whatever happened.
#
# Exit: 0 all passed, 1 a check failed, 2 setup/boot error, 77 systemd-nspawn missing (skip).
# Env: KEEP=1 keeps the work dir (console log, client logs); HOLD=N keeps the container up N s
#      at the end (enter with: nsenter -t PID -a bash); SCENARIO_TIMEOUT (s, default 120).
set -u
HERE=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SCENARIO…]" >&2; exit 2; }
BUILD=$(readlink -f "$1"); shift
sd_preflight
[ -d "$BUILD" ] || { echo "ERROR: no build dir $BUILD"; exit 2; }

T0=$(sd_now)
SD_WORK=$(mktemp -d "${TMPDIR:-/tmp}/cppicorn-sdtest.XXXXXX")
SD_RESULTS=$SD_WORK/results
: > "$SD_RESULTS"
export SD_WORK SD_RESULTS BUILD
trap sd_teardown EXIT
trap 'exit 130' INT TERM

sd_stage "$BUILD"
sd_boot

# Between scenarios: every cppicorn unit stopped, no runtime drop-ins, failures forgotten.
sd_reset() {
    local units
    units=$(inside systemctl list-units --all --plain --no-legend 'cppicorn@*' 2>/dev/null | awk '{print $1}')
    [ -n "$units" ] && sc stop $units >/dev/null 2>&1
    inside sh -c 'rm -rf /run/systemd/system/cppicorn@*.d' 2>/dev/null
    sc daemon-reload >/dev/null 2>&1
    sc reset-failed >/dev/null 2>&1
}

selected() {  # selected FILE: no arguments → all; else the basename starts with one of them
    local b p
    b=$(basename "$1")
    [ ${#SELECT[@]} = 0 ] && return 0
    for p in "${SELECT[@]}"; do case "$b" in "$p"*) return 0 ;; esac; done
    return 1
}
SELECT=("$@")

for f in "$HERE"/scenarios/*.sh; do
    selected "$f" || continue
    name=$(basename "$f" .sh)
    echo "== $name"
    mark=$(journal_mark)
    fails_before=$(grep -c '^FAIL' "$SD_RESULTS")
    t=$(sd_now)
    timeout -k 5 "${SCENARIO_TIMEOUT:-120}" bash "$f"
    rc=$?
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        fail "$name" "scenario did not finish within ${SCENARIO_TIMEOUT:-120} s"
    elif [ $rc != 0 ]; then
        fail "$name" "scenario script exited with status $rc"
    fi
    if [ "$(grep -c '^FAIL' "$SD_RESULTS")" != "$fails_before" ]; then
        echo "   --- journal since the start of $name (last 60 lines) ---"
        journal "$mark" -o short-monotonic 2>&1 | tail -n 60 | sed 's/^/   | /'
    fi
    echo "   ($name: $(sd_el "$t") s)"
    sd_reset
done

npass=$(grep -c '^PASS' "$SD_RESULTS"); nfail=$(grep -c '^FAIL' "$SD_RESULTS")
echo "== summary: $npass passed, $nfail failed; suite time $(sd_el "$T0") s (boot included, teardown follows)"
[ "$nfail" != 0 ] && grep '^FAIL' "$SD_RESULTS" | sed 's/^/   /'
if [ "${HOLD:-0}" != 0 ]; then
    echo "HOLD: container init is host pid $SD_LEADER; enter with: nsenter -t $SD_LEADER -a bash"
    sleep "$HOLD"
fi
[ "$nfail" = 0 ] && [ "$npass" != 0 ]
