# shellcheck shell=bash
# tests/package/root.sh — a clean Debian 12 root made by debootstrap once and cached.
#
#   pkg_root            prints the path of the cached root, building it first if needed
#
# The cache lives under $PKG_CACHE (default /var/cache/cppicorn-test), one directory per key:
# bookworm-root-<hash of the suite, mirror, variant, package list and PKG_ROOT_REV>. Change
# any of these and a new root is built; delete the directory to force a rebuild. A root is
# built in a temporary directory and renamed into place only when complete, under a lock, so
# an interrupted or concurrent run never leaves (or uses) a half-made root.
#
# The root is the smallest system that can boot its own systemd in a container and run the
# test's client: minbase + systemd + dbus + curl. It never sees the build tree: cppicorn's own
# dependencies come from Debian when the test installs the .deb.

PKG_CACHE=${PKG_CACHE:-/var/cache/cppicorn-test}
PKG_SUITE=bookworm
PKG_MIRROR=${PKG_MIRROR:-http://deb.debian.org/debian}
PKG_ROOT_INCLUDE=systemd,dbus,curl,procps
PKG_ROOT_REV=1                                   # bump to invalidate every cached root
PKG_ROOT_TIMEOUT=${PKG_ROOT_TIMEOUT:-1800}       # seconds for debootstrap + apt-get update

pkg_root_key() {
    printf '%s\n' "$PKG_SUITE" "$PKG_MIRROR" minbase "$PKG_ROOT_INCLUDE" "$PKG_ROOT_REV" |
        sha256sum | cut -c1-12
}

# pkg_root_sources ROOT: the host's apt sources (deb822 or one-line), nothing else
pkg_root_sources() {
    local root=$1
    rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/"
    find /etc/apt/sources.list.d -maxdepth 1 \( -name '*.list' -o -name '*.sources' \) \
        -exec cp {} "$root/etc/apt/sources.list.d/" \;
    # Signed-By= keyrings named by the sources that the root does not have
    local key
    for key in $(grep -rhoE '(Signed-By:|signed-by=)[[:space:]]*/[^] ]+' /etc/apt/sources.list \
                     /etc/apt/sources.list.d 2>/dev/null | sed -E 's/^(Signed-By:|signed-by=)[[:space:]]*//' | sort -u); do
        [ -f "$key" ] && [ ! -e "$root$key" ] && install -D -m 644 "$key" "$root$key"
    done
    return 0
}

pkg_root() {
    local key dir tmp t0 rc
    key=$(pkg_root_key)
    dir=$PKG_CACHE/$PKG_SUITE-root-$key
    mkdir -p "$PKG_CACHE" || return 1
    exec 9> "$PKG_CACHE/.lock"
    flock 9
    if [ -f "$dir/.complete" ]; then
        echo "root: cached $dir" >&2
        flock -u 9; echo "$dir"; return 0
    fi
    t0=$SECONDS
    echo "root: building $dir (debootstrap --variant=minbase --include=$PKG_ROOT_INCLUDE $PKG_SUITE," \
         "at most ${PKG_ROOT_TIMEOUT} s)" >&2
    tmp=$PKG_CACHE/.tmp-$key-$$
    rm -rf "$tmp" "$PKG_CACHE"/.tmp-"$key"-*
    timeout "$PKG_ROOT_TIMEOUT" debootstrap --variant=minbase --include="$PKG_ROOT_INCLUDE" \
        "$PKG_SUITE" "$tmp" "$PKG_MIRROR" > "$PKG_CACHE/debootstrap-$key.log" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "root: debootstrap failed (exit $rc); last lines of $PKG_CACHE/debootstrap-$key.log:" >&2
        tail -n 15 "$PKG_CACHE/debootstrap-$key.log" >&2
        rm -rf "$tmp"; flock -u 9; return 1
    fi
    pkg_root_sources "$tmp"
    cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null
    if ! timeout 600 chroot "$tmp" apt-get -q update >> "$PKG_CACHE/debootstrap-$key.log" 2>&1; then
        echo "root: apt-get update in the new root failed; see $PKG_CACHE/debootstrap-$key.log" >&2
        rm -rf "$tmp"; flock -u 9; return 1
    fi
    chroot "$tmp" apt-get -q clean
    # A root that boots as a container: no machine identity baked in.
    : > "$tmp/etc/machine-id"
    rm -f "$tmp/var/lib/dbus/machine-id"
    touch "$tmp/.complete"
    mv "$tmp" "$dir"
    echo "root: built in $((SECONDS - t0)) s" >&2
    flock -u 9
    echo "$dir"
}
