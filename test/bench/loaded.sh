#!/usr/bin/env bash
# The integration suite N times back to back (default 5) while both cores are
# kept busy by a loop of cold `go build -a` of kube-scheduler (the control
# plane's packages): the suite must pass every time. Prints one line per run
# and, at the end, the table benchmarks/stability.md holds.
#   test/bench/loaded.sh [N]
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-5}
export LAB_TESTBIN=${LAB_TESTBIN:-$(test/bin/build.sh --print)}
stop=$(mktemp -u)
( while [[ ! -e $stop ]]; do (cd test/bin/kubernetes && go build -a -o /dev/null k8s.io/kubernetes/cmd/kube-scheduler >/dev/null 2>&1); done ) &
load=$!
rows=()
for i in $(seq 1 "$n"); do
  s=$SECONDS
  go test -tags integration -count=1 -timeout 30m ./test/integration/ > "/tmp/lab-loaded-run$i.log" 2>&1
  rc=$?
  row="| $i | $([[ $rc == 0 ]] && echo pass || echo FAIL) | $((SECONDS - s)) s | $(grep -c '^--- FAIL' "/tmp/lab-loaded-run$i.log") |"
  echo "$row"
  rows+=("$row")
done
touch "$stop"; wait "$load" 2>/dev/null; rm -f "$stop"
printf '\n| run | result | wall | failed tests |\n|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
