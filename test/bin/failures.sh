#!/usr/bin/env bash
# failures.sh LOG: prints what each failing test wrote, from a `go test -v`
# log, and the end of the log when a test binary panicked — so a failure in
# CI shows why, not only its name. CI shows the end of the output, so each
# test gets a few lines: its last $FAILURE_ENTRIES (default 4) log entries
# (t.Log/t.Error/t.Fatal, each "name_test.go:N: …" with the lines it
# continues on), each cut to $FAILURE_LINES (default 6) lines; the whole
# log holds the rest.
set -euo pipefail
log=${1:?usage: failures.sh LOG}
awk -v entries="${FAILURE_ENTRIES:-4}" -v lines="${FAILURE_LINES:-6}" '
  function show(top,   first, e, i, k, m) {
    first = ne[top] > entries ? ne[top] - entries + 1 : 1
    if (first > 1) print "  (" first - 1 " earlier entries in the log)"
    for (e = first; e <= ne[top]; e++) {
      m = nl[top, e]
      for (i = 1; i <= m && i <= lines; i++) print txt[top, e, i]
      if (m > lines) print "        (" m - lines " more lines)"
    }
  }
  match($0, /^=== (RUN|CONT|PAUSE|NAME) +[^ ]+/) { split($0, f, / +/); cur = f[3]; sub(/\/.*/, "", cur); next }
  match($0, /^ *--- FAIL: [^ ]+/) {
    split($0, f, /FAIL: /); name = f[2]; sub(/ .*/, "", name); top = name; sub(/\/.*/, "", top)
    fails[top] = fails[top] $0 "\n"
    if (name != top) next
    print "==== " top " failed; what it wrote last:"
    show(top)
    printf "%s", fails[top]
    next
  }
  /^ *--- (PASS|SKIP)/ { next }
  cur != "" {
    if ($0 ~ /^ +[A-Za-z0-9_]+_test\.go:[0-9]+: / || ne[cur] == 0) { ne[cur]++; nl[cur, ne[cur]] = 0 }
    e = ne[cur]; nl[cur, e]++; txt[cur, e, nl[cur, e]] = $0
  }
' "$log"
if grep -q '^panic: ' "$log"; then
  echo "==== a test binary panicked; the end of its output:"
  grep -n -A60 '^panic: ' "$log" | head -120
fi
