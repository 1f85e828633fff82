# shellcheck shell=bash
# Setting up for bench/run: the peers from Debian and a cppicorn build. Sourced by
# bench/run, which sets ROOT, RES, BUILD_TIMEOUT and say().

# ---------------------------------------------------------------- install the peers
# Only what is missing, so a second run needs neither root nor the network. While apt
# runs, a temporary policy-rc.d (the Debian mechanism, honoured by invoke-rc.d and
# deb-systemd-invoke) stops the nginx/uwsgi packages from starting their system
# services, which would listen on 0.0.0.0:80; we only ever want our own 127.0.0.1 ones.
install_peers() {
  local pkgs=() policy=/usr/sbin/policy-rc.d made_policy=0
  command -v gunicorn >/dev/null || pkgs+=(gunicorn)
  command -v uwsgi >/dev/null || pkgs+=(uwsgi-core)
  [[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ]] || pkgs+=(uwsgi-plugin-python3)
  command -v nginx >/dev/null || pkgs+=(nginx-light)
  command -v wrk >/dev/null || pkgs+=(wrk)
  /usr/bin/python3 -c 'import gevent' 2>/dev/null || pkgs+=(python3-gevent)
  /usr/bin/python3 -c 'import uvicorn, uvloop, httptools' 2>/dev/null ||
    pkgs+=(python3-uvicorn python3-uvloop python3-httptools)
  /usr/bin/python3 -c 'import hypercorn' 2>/dev/null || pkgs+=(python3-hypercorn)
  /usr/bin/python3 -c 'import fastapi' 2>/dev/null || pkgs+=(python3-fastapi)
  command -v h2load >/dev/null || pkgs+=(nghttp2-client)  # bench/tls
  command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v pgrep >/dev/null || pkgs+=(procps)
  (( ${#pkgs[@]} )) || return 0
  say "installing from Debian: ${pkgs[*]}"
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  local rc=0
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y --no-install-recommends "${pkgs[@]}" ||
    { timeout 300 apt-get update && timeout 600 apt-get install -y --no-install-recommends "${pkgs[@]}"; } ||
    rc=$?
  (( made_policy )) && rm -f "$policy"
  return "$rc"
}

# ---------------------------------------------------------------- build cppicorn
# CPPICORN_BUILD=<dir> uses an existing build (<dir>/cppicorn, <dir>/examples/*.so).
# Otherwise a build of a *committed* revision, BENCH_REV (default HEAD): the
# working tree is shared with engineers mid-edit, and a benchmark must say exactly what
# it measured (BENCH_REV=worktree builds the working tree as it is, uncommitted edits
# and all). The revision is exported with `git archive` into build-bench/src and built
# in build-bench/obj, tests off: we need the server and the example apps, nothing else.
# The build type is RelWithDebInfo, what packaging/build-deb ships: the benchmark measures
# what users run. (Release, -O3, measured within noise of it on this machine: ±2 %.)
# A failed build is not fatal: the cppicorn rows are then reported as missing.
build_cppicorn() {
  local rev=${BENCH_REV:-HEAD} src=$ROOT
  if [[ -n ${CPPICORN_BUILD:-} ]]; then
    CPPICORN_VERSION="$(git -C "$ROOT" describe --always --dirty 2>/dev/null) (prebuilt $CPPICORN_BUILD)"
  elif [[ -n ${BENCH_NO_BUILD:-} ]]; then  # reuse the last build; it recorded its revision
    CPPICORN_BUILD=$ROOT/build-bench/obj
    CPPICORN_VERSION="$(cat "$CPPICORN_BUILD/.bench-rev" 2>/dev/null || echo '?') (previous build)"
  else
    CPPICORN_BUILD=$ROOT/build-bench/obj
    if [[ $rev == worktree ]]; then
      CPPICORN_VERSION="$(git -C "$ROOT" describe --always --dirty) (working tree)"
    else
      CPPICORN_VERSION=$(git -C "$ROOT" rev-parse --short "$rev")
      src=$ROOT/build-bench/src
      rm -rf "$src" && mkdir -p "$src"
      git -C "$ROOT" archive --format=tar "$rev" | tar -x -C "$src"
    fi
    say "building cppicorn $CPPICORN_VERSION (RelWithDebInfo) in $CPPICORN_BUILD, log: $RES/build.log"
    rm -f "$CPPICORN_BUILD/.bench-rev"
    if { timeout "$BUILD_TIMEOUT" cmake -S "$src" -B "$CPPICORN_BUILD" \
           -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPPICORN_TESTS=OFF &&
         timeout "$BUILD_TIMEOUT" cmake --build "$CPPICORN_BUILD" -j2; } >"$RES/build.log" 2>&1; then
      echo "$CPPICORN_VERSION" >"$CPPICORN_BUILD/.bench-rev"
    else
      echo "  build failed (tail of log below); cppicorn rows will be missing"
      tail -n 8 "$RES/build.log" | sed 's/^/    /'
      rm -f "$CPPICORN_BUILD/cppicorn"  # never benchmark a stale binary under a new name
    fi
  fi
  CPPICORN_BIN=$CPPICORN_BUILD/cppicorn
  if [[ ! -x $CPPICORN_BIN || ! -e $CPPICORN_BUILD/examples/hello.so ]]; then
    echo "  no cppicorn binary/hello.so in $CPPICORN_BUILD: cppicorn rows missing"
    CPPICORN_BIN=
  fi
}
