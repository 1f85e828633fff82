# shellcheck shell=bash
# tests/systemd/lib.sh — boot the host's systemd as PID 1 of a throw-away systemd-nspawn
# container with a staged `cmake --install` of cppicorn, and the helpers scenarios use.
#
# Sourced twice over:
#   * by run.sh (host side): sd_preflight, sd_stage, sd_boot, sd_teardown (EXIT trap);
#   * by every scenario script (a separate bash, see run.sh), which gets the exported SD_*
#     variables and uses: inside, sc, prop, wait_for, journal, pass/fail/check, …
#
# Why it works on a host whose PID 1 is not systemd (no system bus, no machined):
#   * --keep-unit --register=no: nspawn needs no D-Bus;
#   * a private mount namespace with a tmpfs on /run: nspawn keeps its scratch mounts under
#     /run and refuses to clean up a disk file system there (the host's /run is on disk);
#   * a cgroup of our own (unified, and name=systemd on a hybrid host) holds nspawn and the
#     whole container, so teardown can kill and remove everything we started, even on failure.
# Container: -D / --volatile=yes (tmpfs root, the host's /usr read-only), --private-network
# (only lo), the staged /usr/local bound read-only over /usr/local (units in
# /usr/local/lib/systemd/system and /usr/local/lib/sysusers.d are in systemd's search paths),
# a writable copy of the staged config directory bound where the unit's ExecStart= looks.

SD_LIB=${SD_LIB:-$(readlink -f "${BASH_SOURCE[0]}")}
export SD_LIB

sd_now() { date +%s.%N; }
sd_el() { awk -v a="$1" -v b="$(sd_now)" 'BEGIN{printf "%.2f", b-a}'; }

# ---- results -----------------------------------------------------------------------------
# pass NAME DETAIL / fail NAME DETAIL / check NAME STATUS DETAIL (STATUS 0 = pass)
pass() { echo "PASS $1 — ${2:-}"; echo "PASS $1" >> "$SD_RESULTS"; }
fail() { echo "FAIL $1 — ${2:-}"; echo "FAIL $1" >> "$SD_RESULTS"; }
check() { if [ "$2" = 0 ]; then pass "$1" "${3:-}"; else fail "$1" "${3:-}"; fi; }
note() { echo "     $*"; }

# ---- talking to the container ------------------------------------------------------------
inside() { nsenter -t "$SD_LEADER" -a "$@"; }        # run a command inside the container
# systemctl inside the container, never blocking the suite for more than 90 s
sc() { inside timeout 90 systemctl --no-pager "$@"; }
prop() { inside systemctl show -P "$2" "$1" 2>/dev/null; }   # prop UNIT PROPERTY
# wait_for TIMEOUT_S COMMAND… : poll every 0.1 s until COMMAND succeeds; 1 on timeout
wait_for() {
    local deadline
    deadline=$(awk -v n="$(sd_now)" -v t="$1" 'BEGIN{printf "%.3f", n+t}'); shift
    while :; do
        "$@" && return 0
        awk -v n="$(sd_now)" -v d="$deadline" 'BEGIN{exit !(n>=d)}' && return 1
        sleep 0.1
    done
}
# journal_mark: print a cursor; journal MARK [journalctl args…]: entries after it
journal_mark() { inside journalctl -q -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p'; }
journal() {
    local mark=$1; shift
    if [ -n "$mark" ]; then inside journalctl -q --no-pager --after-cursor="$mark" "$@"
    else inside journalctl -q --no-pager "$@"; fi
}
# children PID: pids of PID's children (inside the container), sorted, space separated
children() { inside pgrep -P "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'; }
nwords() { set -- $1; echo $#; }
# http ARGS…: curl inside the container, prints the body (errors too); never hangs
http() { inside curl -sS --max-time "${HTTP_TIMEOUT:-10}" "$@" 2>&1; }
http_code() { inside curl -s --max-time "${HTTP_TIMEOUT:-10}" -o /dev/null -w '%{http_code}' "$@"; }
# write_file PATH (stdin): write a file inside the container
write_file() { inside sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1"' sh "$1"; }
# dropin UNIT NAME (stdin): a runtime drop-in, then daemon-reload
dropin() { write_file "/run/systemd/system/$1.d/$2.conf" && sc daemon-reload; }
# conf NAME (stdin): write $SD_CONFDIR/NAME.yaml (the instance NAME's config)
conf() { write_file "$SD_CONFDIR/$1.yaml"; }
# inflight PORT: a worker accepted a connection to PORT and read the request: an established
# server-side connection with nothing left unread, and an empty accept queue
inflight() {
    [ -n "$(inside ss -Htn state established "( sport = :$1 )" | awk '$1 == 0')" ] &&
    [ "$(inside ss -Htln "( sport = :$1 )" | awk '{print $2}' | sort -u)" = 0 ]
}
active() { [ "$(prop "$1" ActiveState)" = active ]; }

# client_loop OUT CURL_ARGS… (run it in the background): requests back to back until
# OUT.stop exists; OUT.n holds "ok bad" after every request, failures go to OUT.err.
client_loop() {
    local out=$1 ok=0 bad=0 code; shift
    : > "$out.err"
    while [ ! -e "$out.stop" ]; do
        code=$(inside curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$@" 2>>"$out.err")
        if [ "$code" = 200 ]; then ok=$((ok+1)); else bad=$((bad+1)); echo "$(date +%T.%N) HTTP $code" >> "$out.err"; fi
        echo "$ok $bad" > "$out.n.tmp" && mv "$out.n.tmp" "$out.n"
    done
}
client_ok() { local n; n=$(cat "$1.n" 2>/dev/null) || n="0 0"; set -- $n; echo "$1"; }
client_bad() { local n; n=$(cat "$1.n" 2>/dev/null) || n="0 0"; set -- $n; echo "$2"; }
# client_wait_more OUT N: wait until N more requests than now succeeded (or something failed)
_client_reached() { [ "$(client_ok "$1")" -ge "$2" ] || [ "$(client_bad "$1")" -gt 0 ]; }
client_wait_more() { wait_for 30 _client_reached "$1" $(( $(client_ok "$1") + $2 )); }

# ---- host side: preflight, staging, boot, teardown ---------------------------------------
sd_preflight() {
    if ! command -v systemd-nspawn >/dev/null 2>&1; then
        echo "SKIP: systemd-nspawn not found (apt-get install systemd-container)"; exit 77
    fi
    [ "$(id -u)" = 0 ] || { echo "ERROR: the systemd suite must run as root"; exit 2; }
    local t
    for t in nsenter unshare curl pgrep ss cmake timeout; do
        command -v "$t" >/dev/null 2>&1 || { echo "ERROR: $t not found"; exit 2; }
    done
}

# sd_stage BUILD_DIR: install into $SD_WORK/stage (prefix /usr/local) and find the config dir.
# SD_STAGE_FROM=DIR: copy an already staged DESTDIR tree instead (debugging the harness).
sd_stage() {
    local build=$1 unit
    SD_STAGE=$SD_WORK/stage
    if [ -n "${SD_STAGE_FROM:-}" ]; then
        cp -a "$SD_STAGE_FROM" "$SD_STAGE" || exit 2
    elif ! DESTDIR=$SD_STAGE cmake --install "$build" --prefix /usr/local > "$SD_WORK/install.log" 2>&1; then
        echo "ERROR: cmake --install failed:"; tail -n 20 "$SD_WORK/install.log"; exit 2
    fi
    unit=$SD_STAGE/usr/local/lib/systemd/system/cppicorn@.service
    [ -f "$unit" ] || { echo "ERROR: $unit not installed"; exit 2; }
    [ -x "$SD_STAGE/usr/local/bin/cppicorn" ] || { echo "ERROR: bin/cppicorn not installed"; exit 2; }
    # the directory ExecStart= reads NAME.yaml from (/usr/local/etc/cppicorn for this prefix)
    SD_CONFDIR=$(sed -n 's|^ExecStart=.*--config \(/[^ ]*\)/%i\.yaml.*|\1|p' "$unit")
    [ -n "$SD_CONFDIR" ] || { echo "ERROR: no --config DIR/%i.yaml in $unit"; exit 2; }
    mkdir -p "$SD_WORK/conf"
    [ -d "$SD_STAGE$SD_CONFDIR" ] && cp -a "$SD_STAGE$SD_CONFDIR/." "$SD_WORK/conf/"
    mkdir -p "$SD_STAGE$SD_CONFDIR"          # the mount point for the writable copy
    SD_EXAMPLES=$(sed -n 's/^chdir: *//p' "$SD_WORK/conf/hello.yaml" 2>/dev/null)
    SD_EXAMPLES=${SD_EXAMPLES:-/usr/local/lib/cppicorn/examples}
    export SD_STAGE SD_CONFDIR SD_EXAMPLES
}

sd_cgroup_setup() {
    SD_CG=cppicorn-sdtest-$$
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then          # pure cgroup v2
        SD_CGDIRS="/sys/fs/cgroup/$SD_CG"; SD_CGKILL=/sys/fs/cgroup/$SD_CG
    else                                                       # hybrid / legacy
        SD_CGDIRS="/sys/fs/cgroup/unified/$SD_CG /sys/fs/cgroup/systemd/$SD_CG"
        SD_CGKILL=/sys/fs/cgroup/unified/$SD_CG
    fi
    # stale trees from a run that was SIGKILLed: remove them once nothing lives in them
    local d pid
    for d in /sys/fs/cgroup/cppicorn-sdtest-* /sys/fs/cgroup/unified/cppicorn-sdtest-* \
             /sys/fs/cgroup/systemd/cppicorn-sdtest-*; do
        [ -d "$d" ] || continue
        pid=${d##*-}; kill -0 "$pid" 2>/dev/null && continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    for d in $SD_CGDIRS; do mkdir "$d" || { echo "ERROR: cannot create cgroup $d"; exit 2; }; done
}

# sd_boot_container NAME LOG NSPAWN_ARGS…: boot systemd as PID 1 of a container in a cgroup of
# our own (root and bind options in NSPAWN_ARGS), and wait until it is up; exit 2 if it is not.
sd_boot_container() {
    local name=$1 log=$2 t0 state="" i d
    shift 2
    t0=$(sd_now)
    sd_cgroup_setup
    SD_NAME=$name
    (
        for d in $SD_CGDIRS; do echo "$BASHPID" > "$d/cgroup.procs"; done
        exec unshare -m --propagation private /bin/sh -c \
            'mount -t tmpfs -o mode=755 tmpfs /run && exec "$@"' sh \
            systemd-nspawn -q --keep-unit --register=no --private-network \
                -M "$SD_NAME" --console=read-only --system-call-filter=bpf \
                "$@" --boot systemd.firstboot=off
    ) > "$log" 2>&1 < /dev/null &
    SD_NSPAWN_PID=$!
    SD_LEADER=""
    for i in $(seq 1 300); do
        SD_LEADER=$(pgrep -P "$SD_NSPAWN_PID" -x systemd | head -n1)
        [ -n "$SD_LEADER" ] && break
        kill -0 "$SD_NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$SD_LEADER" ]; then
        echo "ERROR: the container's systemd did not appear"; tail -n 30 "$log"; exit 2
    fi
    export SD_LEADER SD_NAME
    for i in $(seq 1 600); do
        state=$(inside systemctl is-system-running 2>/dev/null)
        case "$state" in running|degraded) break ;; esac
        sleep 0.1
    done
    echo "boot: $(sd_el "$t0") s (system state: ${state:-none}; container init = host pid $SD_LEADER)"
    case "$state" in
        running) ;;
        degraded) echo "note: degraded:"; inside systemctl --failed --no-legend --no-pager ;;
        *) echo "ERROR: boot did not finish"; tail -n 30 "$log"; exit 2 ;;
    esac
}

# sd_boot: the suite's container: the host's /usr on a tmpfs root, the staged install bound in.
sd_boot() {
    mkdir -p "$SD_WORK/preset"
    echo 'disable *' > "$SD_WORK/preset/00-sdtest.preset"
    sd_boot_container "cppsd$$" "$SD_WORK/console.log" -D / --volatile=yes \
        --bind-ro="$SD_STAGE/usr/local:/usr/local" \
        --bind="$SD_WORK/conf:$SD_CONFDIR" \
        --bind-ro="$SD_WORK/preset/00-sdtest.preset:/etc/systemd/system-preset/00-sdtest.preset"
}

sd_teardown() {
    local t0 d i
    t0=$(sd_now)
    if [ -n "${SD_NSPAWN_PID:-}" ] && kill -0 "$SD_NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$SD_NSPAWN_PID"      # nspawn asks the container's systemd to power off
        for i in $(seq 1 100); do kill -0 "$SD_NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SD_NSPAWN_PID" 2>/dev/null && kill -KILL "$SD_NSPAWN_PID"
    fi
    [ -n "${SD_NSPAWN_PID:-}" ] && wait "$SD_NSPAWN_PID" 2>/dev/null
    # whatever is left in OUR cgroup tree is ours: kill it, then remove the cgroups
    if [ -n "${SD_CGKILL:-}" ] && [ -d "$SD_CGKILL" ]; then
        if [ -e "$SD_CGKILL/cgroup.kill" ]; then
            echo 1 > "$SD_CGKILL/cgroup.kill" 2>/dev/null
        else
            find "$SD_CGKILL" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        fi
        for i in $(seq 1 50); do
            [ -z "$(find "$SD_CGKILL" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    for d in ${SD_CGDIRS:-}; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ -d "$d" ] && echo "WARN: could not remove cgroup $d" >&2
    done
    echo "teardown: $(sd_el "$t0") s"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $SD_WORK"; else rm -rf "$SD_WORK"; fi
}
