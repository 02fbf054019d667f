#!/usr/bin/env bash
# fuzz.sh [TIME]: runs every fuzz target of lab's outside-input parsers for
# TIME each (default 60s) and prints a Markdown table of what each ran.
# Results: benchmarks/fuzz.md (make bench includes it; refresh by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."
t=${1:-60s}
targets=(
  "FuzzLoad ./core/config/v1alpha1/ lab.yaml"
  "FuzzWebhook ./agent/serve/ an Alertmanager webhook body"
  "FuzzOpenBundle ./stacks/ a bundle archive (gzip/tar/index)"
  "FuzzAnswer ./agent/llm/ a model's answer"
  "FuzzSplit ./agent/runbook/ runbook Markdown"
  "FuzzAdvisory ./stacks/sbom/ an OSV record"
  "FuzzBuild ./agent/digest/ container logs"
  "FuzzAssess ./agent/predict/ Prometheus series"
)
echo "| target | input | time | execs | result |"
echo "|---|---|---|---|---|"
for row in "${targets[@]}"; do
  read -r name pkg what <<<"$row"
  out=$(go test -run '^$' -fuzz "^$name\$" -fuzztime "$t" "$pkg" 2>&1) && res=pass || res="FAIL: $(grep -m1 -E 'Error|panic|failing input' <<<"$out")"
  execs=$(grep -oE 'execs: [0-9]+' <<<"$out" | tail -1 | awk '{print $2}')
  echo "| \`$name\` (${pkg#./}) | $what | $t | ${execs:-?} | $res |"
done
