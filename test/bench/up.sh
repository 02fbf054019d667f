#!/usr/bin/env bash
# Measures `lab up` to healthy on the kwok provider and the cost of a no-op
# `lab up`, N times each, and prints a markdown table (stdout). Usage:
#   test/bench/up.sh [path/to/lab] [N]
set -euo pipefail
lab=${1:-bin/lab}; n=${2:-5}
home=$(mktemp -d); trap 'LAB_HOME=$home "$lab" down -c examples/kwok.yaml -q >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
export LAB_HOME=$home NO_COLOR=1
ms() { echo $(( $(date +%s%N) / 1000000 )); }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%d | %d | %d", a[int((NR+1)/2)], a[1], a[NR]}'; }
cold=(); noop=()
for i in $(seq "$n"); do
  s=$(ms); "$lab" up -q -c examples/kwok.yaml >/dev/null; e=$(ms); cold+=($((e - s)))
  "$lab" status -c examples/kwok.yaml >/dev/null
  s=$(ms); "$lab" up -q -c examples/kwok.yaml >/dev/null; e=$(ms); noop+=($((e - s)))
  "$lab" down -q -c examples/kwok.yaml >/dev/null
done
echo "| measure | median ms | min ms | max ms | runs |"
echo "|---|---|---|---|---|"
echo "| \`lab up\` kwok lab (4 nodes) from nothing to healthy | $(printf '%s\n' "${cold[@]}" | stats) | $n |"
echo "| no-op \`lab up\` on the healthy lab | $(printf '%s\n' "${noop[@]}" | stats) | $n |"
