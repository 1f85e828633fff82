#!/bin/sh
# Checks the man pages: groff renders them with no warnings, and every setting in the table
# (name and every CLI flag) appears in the rendered cppicorn(1). The page is generated from the
# same table, so the second half checks the generator's groff escaping (a name or flag that a
# stray '.', '\' or '-' made vanish or change in the rendered text), not that the table is
# documented: by design the table is the documentation's only source.
#   check_man.sh GEN_SETTINGS_MAN PAGE...   (the first PAGE is cppicorn.1)
#   check_man.sh --ctl CPPICORN cppicorn-ctl.1
# The second form checks the hand-written cppicorn-ctl(1) against `cppicorn ctl --help`: every
# command (the first word of each indented line) and every --option it lists is in the page.
set -eu
if [ "$1" = "--ctl" ]; then
  warnings=$(groff -ww -man -Tutf8 -z "$3" 2>&1)
  [ -z "$warnings" ] || { echo "$3: groff warnings:" >&2; echo "$warnings" >&2; exit 1; }
  text=$(groff -man -Tascii -P-c -rHY=0 -rLL=200n "$3" 2>/dev/null | col -b)
  help=$("$2" ctl --help)
  words=$(printf '%s\n' "$help" | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p';
          printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u)
  missing=0
  for word in $words; do
    printf '%s\n' "$text" | grep -q -F -- "$word" || {
      echo "$3: '$word' (from cppicorn ctl --help) missing from the page" >&2
      missing=$((missing + 1))
    }
  done
  [ -n "$words" ] || { echo "cppicorn ctl --help listed nothing" >&2; exit 1; }
  [ "$missing" -eq 0 ] && echo "cppicorn-ctl(1) OK ($(echo $words | wc -w) commands and options)"
  exit "$missing"
fi
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
