#!/bin/bash
# tests/package/run.sh [DEB…] — the Debian packages, cppicorn and cppicorn-python3, installed
# one after the other into a clean Debian 12 root that has never seen the build tree, under
# that root's own systemd.
#
#   sudo tests/package/run.sh                  builds the packages (packaging/build-deb, into
#                                              $PKG_BUILD_DIR, default build-deb) first
#   sudo tests/package/run.sh build-deb/*.deb  tests those two (any order: told apart by their
#                                              Package: field)
#
# 1. a Debian 12 root made by debootstrap once and cached (root.sh); every run works on an
#    overlay of it, so the cache is never touched;
# 2. before boot, in a chroot: the host's apt sources, and
#    `apt-get install --download-only` of both packages fetches their dependencies from the
#    Debian mirror (the container itself has no network);
# 3. the root boots its own systemd in a systemd-nspawn container (tests/systemd/lib.sh's
#    cgroup, teardown and helpers; -D ROOT instead of the host's /usr), and inside it:
#    cppicorn alone: `dpkg -i` (fails on the missing dependencies, as it should), `apt-get
#    install -f`, which pulls in no Python (no python3*/libpython* package, none in Depends:);
#    nothing is started or enabled by that; the cppicorn user exists; `systemctl start
#    cppicorn@hello` answers "Hello, World!"; a reload, a USR2 upgrade (MAINPID hand-over)
#    and the socket unit work; a Python app fails to start with a message naming
#    cppicorn-python3. Then cppicorn-python3 (Depends: cppicorn (= version), libpython3.11)
#    the same way, and the tutorial's myapp.py runs through its plugin. `apt-get remove
#    cppicorn-python3` takes the plugin and nothing the native server needs; `apt-get remove
#    cppicorn` stops the instances and keeps the admin's edited hello.yaml and nothing else of
#    either package; `dpkg --purge` of both leaves nothing behind (a diff of the root's file
#    list before the packages and after the purge, less the files of the dependencies).
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

# ---- the packages ------------------------------------------------------------------------
t=$(sd_now)
if [ $# -ge 1 ]; then
    DEBS=("$@")
else
    "$top/packaging/build-deb" "${PKG_BUILD_DIR:-build-deb}" > "$WORK/build.log" 2>&1 ||
        { echo "ERROR: packaging/build-deb failed:"; tail -n 30 "$WORK/build.log"; exit 2; }
    mapfile -t DEBS < <(grep '\.deb$' "$WORK/build.log" | grep -v '^lintian ' | tail -n 2)
fi
DEB="" PYDEB=""
for d in "${DEBS[@]}"; do
    [ -f "$d" ] || { echo "ERROR: no package at '$d'"; exit 2; }
    case "$(dpkg-deb -f "$d" Package)" in
        cppicorn) DEB=$(readlink -f "$d") ;;
        cppicorn-python3) PYDEB=$(readlink -f "$d") ;;
        *) echo "ERROR: '$d' is neither cppicorn nor cppicorn-python3"; exit 2 ;;
    esac
done
[ -n "$DEB" ] && [ -n "$PYDEB" ] ||
    { echo "ERROR: need both cppicorn_*.deb and cppicorn-python3_*.deb (got: ${DEBS[*]})"; exit 2; }
PKG=cppicorn PYPKG=cppicorn-python3
VERSION=$(dpkg-deb -f "$DEB" Version)
echo "packages: $DEB, $PYDEB ($(sd_el "$t") s)"
note "$PKG Depends: $(dpkg-deb -f "$DEB" Depends)"
note "$PYPKG Depends: $(dpkg-deb -f "$PYDEB" Depends)"

# The packages' paths, canonical (merged /usr: /lib/x → /usr/lib/x), files and directories:
# WORK/NAME-paths, NAME-files per package; pkg-paths, pkg-files, pkg-conffiles for both.
canon() { sed -E 's#^/(bin|sbin|lib|lib32|lib64|libx32)/#/usr/\1/#; s#/$##'; }
for d in "$DEB" "$PYDEB"; do
    n=$(dpkg-deb -f "$d" Package)
    dpkg-deb --fsys-tarfile "$d" | tar -t | sed 's#^\./#/#' | grep -v '^/$' | canon | sort -u > "$WORK/$n-paths"
    dpkg-deb --fsys-tarfile "$d" | tar -tv | awk '$1 !~ /^d/ {print $NF}' | sed 's#^\./#/#' | canon | sort -u > "$WORK/$n-files"
    dpkg-deb --ctrl-tarfile "$d" | tar -xO ./conffiles 2>/dev/null | canon
done | sort -u > "$WORK/pkg-conffiles"
sort -u "$WORK/$PKG-paths" "$WORK/$PYPKG-paths" > "$WORK/pkg-paths"
sort -u "$WORK/$PKG-files" "$WORK/$PYPKG-files" > "$WORK/pkg-files"

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
cp "$PYDEB" "$ROOT/root/$PYPKG.deb"
mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" || { echo "ERROR: chroot mounts"; exit 2; }
fetch() { timeout 600 chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
              --download-only install "/root/$PKG.deb" "/root/$PYPKG.deb" >> "$WORK/fetch.log" 2>&1; }
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
inside sh -c 'ls /etc/systemd/system/*.wants 2>/dev/null' | sort > "$WORK/wants-before"

# ---- install cppicorn alone: dpkg -i, then apt-get install -f -------------------------------
# install_one NAME: dpkg -i (which fails on the missing dependencies), apt-get install -f,
# the check NAME-install; WORK/NAME-new lists the packages that came with it.
install_one() {
    local name=$1 t rc_dpkg rc_apt status
    t=$(sd_now)
    installed > "$WORK/$name-pkgs-before"
    inside env DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "/root/$name.deb" > "$WORK/$name-dpkg-i.log" 2>&1
    rc_dpkg=$?
    inside env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -q -y --no-download install -f > "$WORK/$name-apt-f.log" 2>&1
    rc_apt=$?
    status=$(inside dpkg-query -W -f '${Status}' "$name" 2>/dev/null)
    check "$name-install" "$([ "$rc_apt" = 0 ] && [ "$status" = "install ok installed" ]; echo $?)" \
        "dpkg -i exit $rc_dpkg (missing dependencies), apt-get install -f exit $rc_apt; status '$status' ($(sd_el "$t") s)"
    [ "$rc_apt" = 0 ] || tail -n 20 "$WORK/$name-apt-f.log"
    installed | comm -13 "$WORK/$name-pkgs-before" - | grep -vx "$name" > "$WORK/$name-new"
    note "dependencies of $name installed from Debian: $(tr '\n' ' ' < "$WORK/$name-new")"
}
install_one "$PKG"

# A native-only installation pulls in no Python: none in Depends:, none installed.
depends=$(dpkg-deb -f "$DEB" Depends)
py=$(installed | grep -E '^(lib)?python' | tr '\n' ' ')
check no-python "$( ! grep -qi python <<< "$depends" && [ -z "$py" ]; echo $?)" \
    "python packages installed with $PKG alone: '${py:-none}'; python in Depends: '$(grep -oiE '[^ ,]*python[^ ,]*' <<< "$depends" | tr '\n' ' ')'"

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

# A Python app on cppicorn alone: the start fails (exit 4, no restart loop), and the journal
# says which package to install.
t=$(sd_now)
printf 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"py\\n"]\n' |
    write_file /srv/cppicorn-pkgtest/pyapp.py
printf 'app: pyapp:app\nchdir: /srv/cppicorn-pkgtest\nbind: [127.0.0.1:8003]\nworkers: 1\n' |
    write_file /etc/cppicorn/pyapp.yaml
mark=$(journal_mark)
sc start cppicorn@pyapp.service 2>/dev/null; rc=$?
said=$(journal "$mark" -u cppicorn@pyapp.service -o cat | grep -F 'apt install cppicorn-python3' | head -n 1)
check python-app-names-package "$([ "$rc" != 0 ] && [ -n "$said" ] &&
                                  [ "$(prop cppicorn@pyapp.service ExecMainStatus)" = 4 ]; echo $?)" \
    "systemctl start cppicorn@pyapp without $PYPKG exit $rc, ExecMainStatus=$(prop cppicorn@pyapp.service ExecMainStatus), NRestarts=$(prop cppicorn@pyapp.service NRestarts); journal: '${said:-nothing naming $PYPKG}' ($(sd_el "$t") s)"
[ -n "$said" ] || inside journalctl -q --no-pager -n 30 -u cppicorn@pyapp.service
sc reset-failed cppicorn@pyapp.service 2>/dev/null
inside rm -rf /etc/cppicorn/pyapp.yaml /srv/cppicorn-pkgtest

# ---- install cppicorn-python3 next ---------------------------------------------------------
install_one "$PYPKG"
depends=$(dpkg-deb -f "$PYDEB" Depends)
check python3-depends "$(grep -qF "cppicorn (= $VERSION)" <<< "$depends" &&
                         grep -qE '(^|, )libpython3\.11( |,|$)' <<< "$depends" &&
                         grep -qx libpython3.11 "$WORK/$PYPKG-new"; echo $?)" \
    "Depends: $depends; installed with it: $(tr '\n' ' ' < "$WORK/$PYPKG-new")"

# A Python WSGI app (the tutorial's myapp.py, installed with the plugin) under the hardened
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

# ---- remove cppicorn-python3: its files go, the native server stays and serves --------------
t=$(sd_now)
inside env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q -y remove "$PYPKG" > "$WORK/remove-py.log" 2>&1
rc=$?
status=$(inside dpkg-query -W -f '${Status}' "$PYPKG" 2>/dev/null)
left=""
while read -r f; do
    [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ] && left="$left $f"
done < "$WORK/$PYPKG-files"
body=$(HTTP_TIMEOUT=10 http --unix-socket /run/cppicorn/hello.sock http://localhost/)
check remove-python3 "$([ "$rc" = 0 ] && [ -z "$left" ] && [ "$body" = "Hello, World!" ] &&
                        case "$status" in ''|*' not-installed'|*' config-files') true ;; *) false ;; esac
                        echo $?)" \
    "apt-get remove $PYPKG exit $rc, status '$status', its files left:${left:- none}; $PKG still serves: '$body' ($(sd_el "$t") s)"

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
for d in /usr/lib/cppicorn /usr/include/cppicorn /usr/share/doc/cppicorn /usr/share/doc/cppicorn-python3; do
    [ -e "$ROOT$d" ] && left="$left $d/"
done
check remove-leaves-only-conffile "$([ -z "$left" ]; echo $?)" "package files left:${left:- none}"

# ---- purge both: nothing left -----------------------------------------------------------------
t=$(sd_now)
inside env DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge "$PYPKG" "$PKG" > "$WORK/purge.log" 2>&1
rc=$?
status=$(inside dpkg-query -W -f '${db:Status-Abbrev}' "$PKG" 2>/dev/null)
pystatus=$(inside dpkg-query -W -f '${db:Status-Abbrev}' "$PYPKG" 2>/dev/null)
snapshot after
# dependencies' files (dpkg -L, canonical) are expected; so is a little system state, and
# what a dependency's postinst makes outside dpkg's lists (readline-common, which libpython
# pulls in, copies /usr/share/readline/inputrc to /etc/inputrc)
sort -u "$WORK/$PKG-new" "$WORK/$PYPKG-new" > "$WORK/pkgs-new"
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
purged() { case "$1" in ''|'un '|'pn ') true ;; *) false ;; esac; }
check purge "$([ "$rc" = 0 ] && purged "$status" && purged "$pystatus"; echo $?)" \
    "dpkg --purge $PYPKG $PKG exit $rc, status now '${status:-unknown}', '${pystatus:-unknown}' ($(sd_el "$t") s)"
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
