#!/usr/bin/env bash
# failures.sh LOG: prints what each failing test wrote, from a `go test -v`
# log, and the end of the log when a test binary panicked — so a failure in
# CI shows why, not only its name. CI shows the end of the output, so each
# failing test gets a few lines: the last $FAILURE_ENTRIES (default 4) log
# entries (t.Log/t.Error/t.Fatal, each "name_test.go:N: …" with the lines it
# continues on, cut to $FAILURE_LINES (default 8) lines) of each failing
# subtest — or of the test itself when no subtest failed; the whole log
# holds the rest.
set -euo pipefail
log=${1:?usage: failures.sh LOG}
awk -v entries="${FAILURE_ENTRIES:-4}" -v lines="${FAILURE_LINES:-8}" '
  function show(t,   first, e, i, m) {
    first = ne[t] > entries ? ne[t] - entries + 1 : 1
    if (first > 1) print "  (" first - 1 " earlier entries in the log)"
    for (e = first; e <= ne[t]; e++) {
      m = nl[t, e]
      for (i = 1; i <= m && i <= lines; i++) print txt[t, e, i]
      if (m > lines) print "        (" m - lines " more lines)"
    }
  }
  match($0, /^=== (RUN|CONT|PAUSE|NAME) +[^ ]+/) { split($0, f, / +/); cur = f[3]; next }
  match($0, /^ *--- FAIL: [^ ]+/) {
    split($0, f, /FAIL: /); name = f[2]; sub(/ .*/, "", name); top = name; sub(/\/.*/, "", top)
    if (!(top in seen)) { seen[top] = 1; order[++nt] = top }
    line[name] = $0
    if (name != top) subs[top] = subs[top] " " name
    next
  }
  /^ *--- (PASS|SKIP)/ { next }
  cur != "" {
    if ($0 ~ /^ +[A-Za-z0-9_]+_test\.go:[0-9]+: / || ne[cur] == 0) { ne[cur]++; nl[cur, ne[cur]] = 0 }
    e = ne[cur]; nl[cur, e]++; txt[cur, e, nl[cur, e]] = $0
  }
  END {
    for (k = 1; k <= nt; k++) {
      top = order[k]
      print "==== " top " failed; what it wrote last:"
      n = split(subs[top], s, " ")
      if (n == 0) show(top)
      for (j = 1; j <= n; j++) { print line[s[j]]; show(s[j]) }
      print line[top]
    }
  }
' "$log"
if grep -q '^panic: ' "$log"; then
  echo "==== a test binary panicked; the end of its output:"
  grep -n -A60 '^panic: ' "$log" | head -120
fi
