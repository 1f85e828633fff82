#!/bin/bash
# tests/package/run.sh [DEB] — the Debian package, installed into a clean Debian 12 root that
# has never seen the build tree, under that root's own systemd.
#
#   sudo tests/package/run.sh                  builds the package (packaging/build-deb, into
#                                              $PKG_BUILD_DIR, default build-deb) first
#   sudo tests/package/run.sh path/to/x.deb    tests that package
#
# 1. a Debian 12 root made by debootstrap once and cached (root.sh); every run works on an
#    overlay of it, so the cache is never touched;
# 2. before boot, in a chroot: the host's apt sources, and
#    `apt-get install --download-only ./cppicorn.deb` fetches the package's dependencies from
#    the Debian mirror (the container itself has no network);
# 3. the root boots its own systemd in a systemd-nspawn container (tests/systemd/lib.sh's
#    cgroup, teardown and helpers; -D ROOT instead of the host's /usr), and inside it:
#    `dpkg -i` (fails on the missing dependencies, as it should), `apt-get install -f`;
#    nothing is started or enabled by that; the cppicorn user exists; `systemctl start
#    cppicorn@hello` answers "Hello, World!"; a reload, a USR2 upgrade (MAINPID hand-over)
#    and the socket unit work; the tutorial's myapp.py runs through the WSGI plugin;
#    `apt-get remove` stops the instances and keeps the admin's edited hello.yaml and nothing
#    else of the package; `dpkg --purge` leaves nothing behind (a diff of the root's file list
#    before the package and after the purge, less the files of the dependencies).
#
# Prints PASS/FAIL lines and timings. Exit 0 all passed, 1 a check failed, 2 setup error,
# 77 debootstrap or systemd-nspawn not installed (skip). KEEP=1 keeps the work directory,
# HOLD=N keeps the container up N seconds at the end (enter it with nsenter -t PID -a bash).
# The whole script is one { } block, read by bash before it runs: editing the file during a
# run (a shared tree) cannot derail it.
{
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
T0=$(date +%s.%N)

# ---- preflight ---------------------------------------------------------------------------
for tool in debootstrap systemd-nspawn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found (apt-get install debootstrap systemd-container)"; exit 77
    fi
done
[ "$(id -u)" = 0 ] || { echo "ERROR: must run as root (debootstrap, chroot, nspawn)"; exit 2; }
for tool in unshare nsenter chroot dpkg-deb flock pgrep curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ERROR: $tool not found"; exit 2; }
done

# Everything below runs in a private mount namespace: the overlay and the chroot's /proc and
# /dev mounts vanish with it, whatever happens.
if [ -z "${PKGTEST_IN_NS:-}" ]; then
    PKGTEST_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

# shellcheck source=../systemd/lib.sh
source "$top/tests/systemd/lib.sh"
# shellcheck source=root.sh
source "$here/root.sh"

WORK=$(mktemp -d /var/tmp/cppicorn-pkgtest.XXXXXX)
SD_WORK=$WORK/sd                        # the harness's own files; sd_teardown removes it
SD_RESULTS=$WORK/results
mkdir -p "$SD_WORK"; : > "$SD_RESULTS"
export SD_WORK SD_RESULTS
ROOT=$WORK/root
cleanup() {
    local keep=${KEEP:-0}
    KEEP=1 sd_teardown >/dev/null      # stops the container, removes our cgroups
    umount -R "$ROOT" 2>/dev/null
    if [ "$keep" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the package -------------------------------------------------------------------------
t=$(sd_now)
if [ $# -ge 1 ]; then
    DEB=$(readlink -f "$1")
else
    "$top/packaging/build-deb" "${PKG_BUILD_DIR:-build-deb}" > "$WORK/build.log" 2>&1 ||
        { echo "ERROR: packaging/build-deb failed:"; tail -n 30 "$WORK/build.log"; exit 2; }
    DEB=$(tail -n 1 "$WORK/build.log")
fi
[ -f "$DEB" ] || { echo "ERROR: no package at '$DEB'"; exit 2; }
PKG=$(dpkg-deb -f "$DEB" Package)
echo "package: $DEB ($(sd_el "$t") s)"
note "Depends: $(dpkg-deb -f "$DEB" Depends)"

# The package's paths, canonical (merged /usr: /lib/x → /usr/lib/x), files and directories.
canon() { sed -E 's#^/(bin|sbin|lib|lib32|lib64|libx32)/#/usr/\1/#; s#/$##'; }
dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed 's#^\./#/#' | grep -v '^/$' | canon | sort -u > "$WORK/pkg-paths"
dpkg-deb --fsys-tarfile "$DEB" | tar -tv | awk '$1 !~ /^d/ {print $NF}' | sed 's#^\./#/#' | canon | sort -u > "$WORK/pkg-files"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles 2>/dev/null | canon | sort -u > "$WORK/pkg-conffiles"

# ---- the root: cached, then an overlay of it -----------------------------------------------
t=$(sd_now)
CACHE_ROOT=$(pkg_root) || { echo "ERROR: no clean root (debootstrap failed, see above)"; exit 2; }
echo "root: $CACHE_ROOT ($(sd_el "$t") s)"
mkdir -p "$ROOT" "$WORK/upper" "$WORK/ovl"
if ! mount -t overlay overlay -o "lowerdir=$CACHE_ROOT,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" 2>/dev/null; then
    note "overlayfs not available: copying the root"
    cp -a "$CACHE_ROOT/." "$ROOT/" || { echo "ERROR: cannot copy the root"; exit 2; }
fi

# ---- before boot: fetch the dependencies from Debian into the root's apt cache ------------
t=$(sd_now)
pkg_root_sources "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
cp "$DEB" "$ROOT/root/$PKG.deb"
mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" || { echo "ERROR: chroot mounts"; exit 2; }
fetch() { timeout 600 chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
              --download-only install "/root/$PKG.deb" >> "$WORK/fetch.log" 2>&1; }
if ! fetch; then
    note "apt-get could not fetch the dependencies; apt-get update and again"
    timeout 600 chroot "$ROOT" apt-get -q update >> "$WORK/fetch.log" 2>&1
    fetch || { echo "ERROR: cannot fetch the dependencies:"; tail -n 20 "$WORK/fetch.log"; exit 2; }
fi
umount -R "$ROOT/dev"; umount "$ROOT/proc"
echo "dependencies fetched: $(ls "$ROOT"/var/cache/apt/archives/*.deb 2>/dev/null | wc -l) packages ($(sd_el "$t") s)"

# ---- boot the root's own systemd ---------------------------------------------------------
# As sd_boot in tests/systemd/lib.sh, with the root's own /usr (-D ROOT, not volatile).
pkg_boot() {  # the clean root's own systemd, nothing of the build tree bound in
    sd_boot_container "cpppkg$$" "$WORK/console.log" -D "$ROOT"
    note "systemd $(inside systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"
}
pkg_boot

# snapshot NAME: the root's file list (one file system, no runtime or package-manager state)
snapshot() {
    (cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \
        -o -path ./tmp -o -path ./var/tmp -o -path ./var/log -o -path ./var/cache \
        -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o -path ./var/lib/systemd \
        -o -path ./root \) -prune -o -print) | sed 's#^\./#/#; /^\.$/d' | sort > "$WORK/$1"
}
installed() { inside dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^.i/ {print $2}' | sort; }
snapshot before
installed > "$WORK/pkgs-before"
inside sh -c 'ls /etc/systemd/system/*.wants 2>/dev/null' | sort > "$WORK/wants-before"

# ---- install: dpkg -i, then apt-get install -f ---------------------------------------------
t=$(sd_now)
inside env DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "/root/$PKG.deb" > "$WORK/dpkg-i.log" 2>&1
rc_dpkg=$?
inside env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -q -y --no-download install -f > "$WORK/apt-f.log" 2>&1
rc_apt=$?
status=$(inside dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null)
check install "$([ "$rc_apt" = 0 ] && [ "$status" = "install ok installed" ]; echo $?)" \
    "dpkg -i exit $rc_dpkg (missing dependencies), apt-get install -f exit $rc_apt; status '$status' ($(sd_el "$t") s)"
[ "$rc_apt" = 0 ] || tail -n 20 "$WORK/apt-f.log"
installed > "$WORK/pkgs-after"
comm -13 "$WORK/pkgs-before" "$WORK/pkgs-after" | grep -vx "$PKG" > "$WORK/pkgs-new"
note "dependencies installed from Debian: $(tr '\n' ' ' < "$WORK/pkgs-new")"

# Installing started nothing and enabled nothing.
units=$(inside systemctl list-units --all --plain --no-legend 'cppicorn*' | awk '{print $1 "=" $3}' | tr '\n' ' ')
procs=$(inside pgrep -x cppicorn | tr '\n' ' ')
enabled=$(inside systemctl is-enabled cppicorn@hello.service cppicorn@hello.socket 2>/dev/null | tr '\n' ' ')
inside sh -c 'ls /etc/systemd/system/*.wants 2>/dev/null' | sort > "$WORK/wants-after"
newlinks=$(comm -13 "$WORK/wants-before" "$WORK/wants-after" | tr '\n' ' ')
check nothing-started "$([ -z "$units" ] && [ -z "$procs" ] && [ -z "$newlinks" ] &&
                         [ "$enabled" = "disabled disabled " ]; echo $?)" \
    "units loaded: '${units}', cppicorn processes: '${procs}', is-enabled: '${enabled}', new wants links: '${newlinks}'"

user=$(inside getent passwd cppicorn)
check sysusers "$([ -n "$user" ]; echo $?)" "getent passwd cppicorn: '$user'"
unit=$(inside systemctl show -P FragmentPath cppicorn@hello.service)
check unit-path "$([ "$unit" = /lib/systemd/system/cppicorn@.service ]; echo $?)" "FragmentPath=$unit"

# ---- serve ---------------------------------------------------------------------------------
t=$(sd_now)
sc start cppicorn@hello.service; rc=$?
body=$(HTTP_TIMEOUT=5 http http://127.0.0.1:8000/)
check start-hello "$([ "$rc" = 0 ] && [ "$body" = "Hello, World!" ]; echo $?)" \
    "systemctl start exit $rc, $(prop cppicorn@hello.service ActiveState), curl: '$body' ($(sd_el "$t") s)"
[ "$body" = "Hello, World!" ] || inside journalctl -q --no-pager -n 30 -u cppicorn@hello.service

t=$(sd_now)
sc reload cppicorn@hello.service; rc=$?
body=$(HTTP_TIMEOUT=5 http http://127.0.0.1:8000/)
check reload "$([ "$rc" = 0 ] && [ "$body" = "Hello, World!" ] && active cppicorn@hello.service; echo $?)" \
    "systemctl reload exit $rc, then curl: '$body'; status '$(prop cppicorn@hello.service StatusText)' ($(sd_el "$t") s)"

# USR2 as cppicorn.systemd(7) documents it: the new master takes MAINPID over, no restart.
t=$(sd_now)
mp=$(prop cppicorn@hello.service MainPID)
sc kill -s USR2 --kill-who=main cppicorn@hello.service
handed() { local n; n=$(prop cppicorn@hello.service MainPID)
           [ "$n" != "$mp" ] && [ "$n" != 0 ] && ! inside kill -0 "$mp" 2>/dev/null; }
wait_for 30 handed; rc=$?
body=$(HTTP_TIMEOUT=5 http http://127.0.0.1:8000/)
check usr2-upgrade "$([ "$rc" = 0 ] && [ "$body" = "Hello, World!" ] && active cppicorn@hello.service &&
                      [ "$(prop cppicorn@hello.service NRestarts)" = 0 ]; echo $?)" \
    "MainPID $mp → $(prop cppicorn@hello.service MainPID), $(prop cppicorn@hello.service ActiveState), NRestarts=$(prop cppicorn@hello.service NRestarts), curl: '$body' ($(sd_el "$t") s)"

# Stopping right after the hand-over must still be graceful: SIGTERM, the drain, success.
t=$(sd_now)
mark=$(journal_mark)
sc stop cppicorn@hello.service
result=$(prop cppicorn@hello.service Result)
killed=$(journal "$mark" -u cppicorn@hello.service -o cat | grep -c 'with signal SIGKILL')
check stop-after-usr2 "$([ "$result" = success ] && [ "$killed" = 0 ]; echo $?)" \
    "systemctl stop just after the hand-over: Result=$result, $killed SIGKILL lines in the journal ($(sd_el "$t") s)"
sc reset-failed cppicorn@hello.service 2>/dev/null

# The socket unit, enabled as an admin would: activation on the first connection.
t=$(sd_now)
sc enable --now cppicorn@hello.socket > /dev/null 2>&1; rc=$?
before=$(prop cppicorn@hello.service ActiveState)
body=$(HTTP_TIMEOUT=10 http --unix-socket /run/cppicorn/hello.sock http://localhost/)
check socket-activation "$([ "$rc" = 0 ] && [ "$before" = inactive ] && [ "$body" = "Hello, World!" ] &&
                           active cppicorn@hello.service; echo $?)" \
    "enable --now exit $rc; service $before before the first connection, curl: '$body' ($(sd_el "$t") s)"

# A Python WSGI app (the tutorial's myapp.py, installed with the examples) under the hardened
# template unit, through the packaged plugin and the libpython dpkg-shlibdeps made the package
# depend on. (ProtectSystem=strict keeps Python from writing bytecode under /usr.)
t=$(sd_now)
ex=$(inside sed -n 's/^chdir: *//p' /etc/cppicorn/hello.yaml)
printf 'app: myapp:app\nchdir: %s\nbind: [127.0.0.1:8002]\nworkers: 1\n' "$ex" |
    write_file /etc/cppicorn/wsgi.yaml
sc start cppicorn@wsgi.service; rc=$?
body=$(HTTP_TIMEOUT=5 http http://127.0.0.1:8002/)
check wsgi-myapp "$([ "$rc" = 0 ] && [ "$body" = "Hello, World!" ]; echo $?)" \
    "systemctl start cppicorn@wsgi (myapp:app in $ex) exit $rc, curl: '$body' ($(sd_el "$t") s)"
[ "$body" = "Hello, World!" ] || inside journalctl -q --no-pager -n 30 -u cppicorn@wsgi.service
sc stop cppicorn@wsgi.service
inside rm -f /etc/cppicorn/wsgi.yaml

# ---- remove: the admin's edit stays, nothing else of the package does ----------------------
t=$(sd_now)
echo "# edited by the admin" | inside sh -c 'cat >> /etc/cppicorn/hello.yaml'
inside env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q -y remove "$PKG" > "$WORK/remove.log" 2>&1
rc=$?
status=$(inside dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null)
stopped="$(prop cppicorn@hello.service ActiveState)/$(prop cppicorn@hello.socket ActiveState)"
procs=$(inside pgrep -x cppicorn | tr '\n' ' ')
check remove "$([ "$rc" = 0 ] && [ "$status" = "deinstall ok config-files" ] && [ -z "$procs" ] &&
                [ "$stopped" = inactive/inactive ]; echo $?)" \
    "apt-get remove exit $rc, status '$status', service/socket $stopped, processes '$procs' ($(sd_el "$t") s)"
kept=$(tail -n 1 "$ROOT/etc/cppicorn/hello.yaml" 2>/dev/null)
check remove-keeps-conffile "$([ "$kept" = "# edited by the admin" ]; echo $?)" \
    "/etc/cppicorn/hello.yaml after remove ends with: '$kept'"
left=""
while read -r f; do
    grep -qxF "$f" "$WORK/pkg-conffiles" && continue
    [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ] && left="$left $f"
done < "$WORK/pkg-files"
for d in /usr/lib/cppicorn /usr/include/cppicorn /usr/share/doc/cppicorn; do
    [ -e "$ROOT$d" ] && left="$left $d/"
done
check remove-leaves-only-conffile "$([ -z "$left" ]; echo $?)" "package files left:${left:- none}"

# ---- purge: nothing left -----------------------------------------------------------------
t=$(sd_now)
inside env DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge "$PKG" > "$WORK/purge.log" 2>&1
rc=$?
status=$(inside dpkg-query -W -f '${db:Status-Abbrev}' "$PKG" 2>/dev/null)
snapshot after
# dependencies' files (dpkg -L, canonical) are expected; so is a little system state, and
# what a dependency's postinst makes outside dpkg's lists (readline-common, which libpython
# pulls in, copies /usr/share/readline/inputrc to /etc/inputrc)
for p in $(cat "$WORK/pkgs-new"); do inside dpkg -L "$p"; done 2>/dev/null | canon | sort -u > "$WORK/deps-files"
deps_made=""
grep -qx readline-common "$WORK/pkgs-new" && deps_made='|^/etc/inputrc$'
comm -13 "$WORK/before" "$WORK/after" | comm -23 - "$WORK/deps-files" |
    grep -vE "^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?\$|^/etc/ld\.so\.cache\$$deps_made" \
    > "$WORK/leftover"
# and the package's own paths that exist now but did not before
while read -r f; do
    [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ] || continue
    grep -qxF "$f" "$WORK/before" || echo "$f"
done < "$WORK/pkg-paths" >> "$WORK/leftover"
sort -u -o "$WORK/leftover" "$WORK/leftover"
check purge "$([ "$rc" = 0 ] && case "$status" in ''|'un '|'pn ') true ;; *) false ;; esac; echo $?)" \
    "dpkg --purge exit $rc, status now '${status:-unknown}' ($(sd_el "$t") s)"
check purge-leaves-nothing "$([ ! -s "$WORK/leftover" ]; echo $?)" \
    "files in the root after purge that were not there before the package (less the $(wc -l < "$WORK/pkgs-new") dependencies' files): $(if [ -s "$WORK/leftover" ]; then tr '\n' ' ' < "$WORK/leftover"; else echo none; fi)"
note "the system user stays after purge, as Debian does for every system user: $(inside getent passwd cppicorn | cut -d: -f1,3)"

# ---- result --------------------------------------------------------------------------------
if [ "${HOLD:-0}" != 0 ]; then
    echo "HOLD: container init is host pid $SD_LEADER; nsenter -t $SD_LEADER -a bash"; sleep "$HOLD"
fi
fails=$(grep -c '^FAIL' "$SD_RESULTS")
passes=$(grep -c '^PASS' "$SD_RESULTS")
echo "package test: $passes passed, $fails failed ($(sd_el "$T0") s in all)"
[ "$fails" = 0 ] || exit 1
exit 0
}
