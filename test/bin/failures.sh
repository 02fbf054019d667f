#!/usr/bin/env bash
# failures.sh LOG: prints what each failing test wrote (its t.Log/t.Fatal
# lines, at most the last 80 per test) from a `go test -v` log, and the end
# of the log when a test binary panicked — so a failure in CI shows why, not
# only its name.
set -euo pipefail
log=${1:?usage: failures.sh LOG}
awk '
  match($0, /^=== (RUN|CONT|PAUSE|NAME) +[^ ]+/) { split($0, f, / +/); cur = f[3]; sub(/\/.*/, "", cur) }
  cur != "" { n[cur]++; buf[cur, n[cur]] = $0 }
  match($0, /^ *--- FAIL: [^ ]+/) {
    split($0, f, /FAIL: /); name = f[2]; sub(/ .*/, "", name); top = name; sub(/\/.*/, "", top)
    if (top in done) next
    done[top] = 1
    print "==== " top " failed; what it wrote:"
    from = n[top] > 80 ? n[top] - 79 : 1
    for (i = from; i <= n[top]; i++) print buf[top, i]
  }
' "$log"
if grep -q '^panic: ' "$log"; then
  echo "==== a test binary panicked; the end of its output:"
  grep -n -A60 '^panic: ' "$log" | head -120
fi
