#!/bin/bash
# tests/package/man-example.sh PAGE INCLUDE_DIR CPPICORN — the examples of cppicorn-app(3)
# are real: each block between `.\" example FILE` and `.\" end` in PAGE is rendered by groff
# as a reader sees it (-Tutf8), the text is saved as FILE, compiled against INCLUDE_DIR with
# the command the page gives, and served by CPPICORN; then curl checks what the page says.
# ctest: man_app_example (packaging/CMakeLists.txt).
set -u
page=$(readlink -f "$1") include=$(readlink -f "$2") server=$(readlink -f "$3")
work=$(mktemp -d "${TMPDIR:-/tmp}/cppicorn-manex.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fails=0
pass() { echo "PASS $1 — ${2:-}"; }
fail() { echo "FAIL $1 — ${2:-}"; fails=$((fails + 1)); }

# Cut each example block, render it alone with the page's own macros, strip the indent.
files=$(sed -n 's/^\.\\" example \(.*\)$/\1/p' "$page")
[ -n "$files" ] || { echo "FAIL no '.\\\" example FILE' blocks in $page"; exit 1; }
for f in $files; do
    {
        echo '.TH X 3'
        sed -n "/^\\.\\\\\" example ${f//./\\.}\$/,/^\\.\\\\\" end\$/p" "$page"
    } > "$work/$f.man"
    # wide lines, no hyphenation or adjustment: the code comes out as written
    groff -man -Tutf8 -P-cbou -rLL=200n -rHY=0 "$work/$f.man" 2>"$work/$f.groff" |
        sed '1,/^ *X(3)/{/^ *X(3)/d;/^$/d}' | sed '/X(3) *$/d' > "$work/$f.txt"
    indent=$(grep -v '^[[:space:]]*$' "$work/$f.txt" | sed 's/[^ ].*//' | awk '{print length}' | sort -n | head -1)
    sed -E "s/^ {0,${indent:-0}}//" "$work/$f.txt" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$work/$f"
    if grep -nP '[^\x00-\x7F]' "$work/$f" > "$work/$f.nonascii"; then
        fail "render-$f" "non-ASCII characters in the rendered code (write \\- \\(aq \\e \\(ti): $(head -3 "$work/$f.nonascii")"
    else
        pass "render-$f" "$(wc -l < "$work/$f") lines"
    fi
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
get() { curl -sS --max-time 5 "$@" 2>&1; }
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }
serve() {  # serve MODULE: start the server on $port, wait until it answers
    "$server" -w 2 -b "127.0.0.1:$port" --chdir "$work" "$1:app" > "$work/$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        [ "$(code "http://127.0.0.1:$port/")" != 000 ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "serve-$1" "no answer on 127.0.0.1:$port: $(tail -n 5 "$work/$1.log")"
    return 1
}
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

# The C++ example, built with the page's own command line (plus the include directory). The
# page promises both examples: one that disappears is a failure, not a skipped check.
[ -f "$work/myapp.cpp" ] || fail extract-myapp "no myapp.cpp example block in $page"
[ -f "$work/capp.c" ] || fail extract-capp "no capp.c example block in $page"
if [ -f "$work/myapp.cpp" ]; then
    if (cd "$work" && g++ -shared -fPIC -std=c++20 -O2 -Wall -Wextra -Werror -I"$include" myapp.cpp -o myapp.so) 2> "$work/cc.log"; then
        pass build-myapp "g++ -shared -fPIC -std=c++20 -O2 -I$include myapp.cpp -o myapp.so"
        if serve myapp; then
            b=$(get "http://127.0.0.1:$port/")
            [ "$b" = "Hello, World!" ] && pass myapp-hello "'$b'" || fail myapp-hello "'$b'"
            b=$(get -d 'some data' "http://127.0.0.1:$port/echo")
            [ "$b" = "some data" ] && pass myapp-echo "'$b'" || fail myapp-echo "'$b'"
            b=$(get -A manpage "http://127.0.0.1:$port/info")
            echo "$b" | grep -q '^worker [0-9]*, request [0-9]*$' && echo "$b" | grep -q '^user agent: manpage$' &&
                pass myapp-info "$(echo "$b" | tr '\n' '|')" || fail myapp-info "'$b'"
            b=$(get -D "$work/stream.head" "http://127.0.0.1:$port/stream")
            [ "$b" = "$(printf 'chunk 1\nchunk 2\nchunk 3')" ] && grep -qi '^transfer-encoding: chunked' "$work/stream.head" &&
                pass myapp-stream "chunked: $(echo "$b" | tr '\n' '|')" || fail myapp-stream "'$b'"
            c=$(code "http://127.0.0.1:$port/fail")
            [ "$c" = 500 ] && grep -q 'app raised: this handler always fails' "$work/myapp.log" &&
                pass myapp-fail "500, and the log says why" || fail myapp-fail "status $c; log: $(tail -n 3 "$work/myapp.log")"
            c=$(code "http://127.0.0.1:$port/nowhere")
            [ "$c" = 404 ] && pass myapp-404 || fail myapp-404 "status $c"
            stop
        fi
    else
        fail build-myapp "$(head -n 20 "$work/cc.log")"
    fi
fi

# The C example.
if [ -f "$work/capp.c" ]; then
    if (cd "$work" && gcc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -I"$include" capp.c -o capp.so) 2> "$work/cc.log"; then
        pass build-capp "gcc -shared -fPIC -std=c11 -O2 -I$include capp.c -o capp.so"
        if serve capp; then
            b=$(get "http://127.0.0.1:$port/some/where")
            [ "$b" = "You asked for /some/where" ] && pass capp-path "'$b'" || fail capp-path "'$b'"
            stop
        fi
    else
        fail build-capp "$(head -n 20 "$work/cc.log")"
    fi
fi

# The page itself renders through man(1) without complaint.
if ! command -v man >/dev/null 2>&1; then
    fail man-l "man(1) is not installed (apt-get install man-db)"
else
    out=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
    [ -z "$out" ] && pass man-l "man -l renders it" || fail man-l "$out"
fi
[ "$fails" = 0 ] && echo "man page examples OK" || echo "man page examples: $fails failed"
[ "$fails" = 0 ]
