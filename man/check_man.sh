#!/bin/sh
# Checks the man pages: groff renders them with no warnings, and every setting in the table
# (name and every CLI flag) appears in the rendered cppicorn(1). The page is generated from the
# same table, so the second half checks the generator's groff escaping (a name or flag that a
# stray '.', '\' or '-' made vanish or change in the rendered text), not that the table is
# documented: by design the table is the documentation's only source.
#   check_man.sh GEN_SETTINGS_MAN PAGE...   (the first PAGE is cppicorn.1)
set -eu
gen=$1
shift
status=0
for page in "$@"; do
  warnings=$(groff -ww -man -Tutf8 -z "$page" 2>&1)
  if [ -n "$warnings" ]; then
    echo "$page: groff warnings:" >&2
    echo "$warnings" >&2
    status=1
  fi
done
# ASCII rendering so '\-' is a plain hyphen, wide and unhyphenated so words stay whole, then
# overstrikes removed.
text=$(groff -man -Tascii -P-c -rHY=0 -rLL=200n "$1" 2>/dev/null | col -b)
missing=0
for word in $("$gen" --list); do
  if ! printf '%s\n' "$text" | grep -q -F -- "$word"; then
    echo "$1: setting word '$word' missing from the rendered page" >&2
    missing=$((missing + 1))
  fi
done
[ "$missing" -eq 0 ] || status=1
count=$("$gen" --list | wc -l)
[ "$count" -gt 0 ] || { echo "no settings listed" >&2; status=1; }
[ "$status" -eq 0 ] && echo "man pages OK ($count settings)"
exit "$status"
