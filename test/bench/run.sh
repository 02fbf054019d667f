#!/usr/bin/env bash
# make bench: runs lab's benchmarks on the real harness and rewrites
# BENCHMARKS.md. Each figure states the machine, the command and the date.
set -euo pipefail
cd "$(dirname "$0")/../.."
lab=${LAB_BIN:-bin/lab}
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | awk '{print $3}')"
date=$(date -u +%Y-%m-%d)
{
  echo "# Benchmarks"
  echo
  echo "Rewritten by \`make bench\` (test/bench/run.sh). Machine: $machine. Date: $date."
  echo "Timings on shared 2-core machines are noisy: read medians, not single runs."
  echo
  echo "## Cluster lifecycle (kwok provider)"
  echo
  echo "Command: \`test/bench/up.sh $lab 5\` — \`lab up -c examples/kwok.yaml\` (real kube-apiserver, etcd,"
  echo "controller-manager, scheduler, kwok; 1 control-plane + 2 worker + 1 GPU fake nodes) from nothing to"
  echo "healthy, then a second \`lab up\` that finds nothing to do, then \`lab down\`."
  echo
  test/bench/up.sh "$lab" 5
  echo
  echo "## The agent (\`lab diagnose\`)"
  echo
  echo "Command: \`go run ./test/bench/labbench -out benchmarks\` — the scenario suite (manifests/scenarios) applied to a"
  echo "harness control plane and diagnosed with the rules (\`--no-llm\`), scored against each scenario's ground truth;"
  echo "the held-out suite (manifests/scenarios/heldout), the triage of every pod, runbook retrieval on"
  echo "manifests/runbook-eval/pairs.yaml; the digest over a generated 100 MB log; diagnose in a namespace of 1,000 pods and"
  echo "10,000 events; saturation prediction on a real Prometheus (scripted series, \`predict -A\` over 1,000 containers)."
  echo "\`-only suite\` runs the scenario parts alone (≈ 5 min), \`-only digest\` the digest alone, \`-only predict\` the"
  echo "prediction alone (≈ 1 min, benchmarks/predict.json)."
  echo "Machine-readable: [benchmarks/results.json](benchmarks/results.json)."
  echo
  go run ./test/bench/labbench -out benchmarks 2>/dev/null
  echo
  echo "### Held-out suite, before the detectors were changed for it (frozen record)"
  echo
  cat benchmarks/heldout-before.md
  echo
  echo "### Diagnosis by completeness: the sources suite, the vocabulary and the grammars"
  echo
  cat benchmarks/sources.md
  echo
  echo "### Saturation prediction, before the level-shift change (frozen record)"
  echo
  cat benchmarks/predict-before.md
  echo
  echo "## The alert path (\`lab agent serve\`)"
  echo
  echo "Command: \`go run ./test/bench/labbench -only alerts -out benchmarks\` (needs \`make build\`) — the real binary, rules only,"
  echo "against a harness control plane with 200 pods, journal on the machine's disk; senders follow Alertmanager's retry rules"
  echo "(5xx or no answer: retry with backoff). Refreshed by hand (≈ 6 min with the 3-minute soak): benchmarks/alerts.md."
  echo
  cat benchmarks/alerts.md
  echo
  echo "## The agent's protocols: MCP and OTLP traces"
  echo
  echo "Command: \`LAB_TESTBIN=~/.cache/lab/testbin go run ./test/bench/labbench -only protocols -out benchmarks\` (needs \`make build\` and"
  echo "the OpenTelemetry Collector \`make testbin\` builds) — a harness control plane, the real binary; the Collector is the real"
  echo "one (OTLP/HTTP receiver, file exporter). Refreshed by hand (≈ 1 min): benchmarks/protocols.md."
  echo
  cat benchmarks/protocols.md
  echo
  echo "## Hostile input (issue #26)"
  echo
  cat benchmarks/hostile.md
  echo
  echo "### Fuzzing"
  echo
  echo "Command: \`test/bench/fuzz.sh 60s > benchmarks/fuzz.md\` — every fuzz target of an outside-input parser, one minute each"
  echo "(2 cores; refreshed by hand)."
  echo
  cat benchmarks/fuzz.md
  echo
  echo "## A real kind lab (offline node image) vs kind itself"
  echo
  echo "Refreshed by hand (\`test/bench/kind.sh bin/lab 3 > /tmp/k.md\`, then benchmarks/kind.md): it needs Docker and the node image."
  echo
  cat benchmarks/kind.md
  echo
  echo "## Test-suite stability under load"
  echo
  cat benchmarks/stability.md
  echo
  echo "## The stacks for real on the kind lab"
  echo
  cat benchmarks/stacks.md
  echo
  echo "## CI from a clean clone on a fresh machine (cold)"
  echo
  cat benchmarks/ci.md
  echo
  echo "## Test binaries (cold build)"
  echo
  echo "Command: \`time test/bin/build.sh\` with empty Go build and module caches, 2 cores. 2026-11-23:"
  echo "7 min 56 s without Terraform — kube-apiserver 172 s, kube-controller-manager 49 s, kube-scheduler 5 s,"
  echo "etcd 20 s, kwok 76 s, ollama (CPU) 154 s. 2026-11-27 (the lab binary's modules downloading beside it):"
  echo "14 min — kube-apiserver 328 s, kube-controller-manager 52 s, kube-scheduler 5 s, etcd 24 s, kwok 102 s,"
  echo "terraform 113 s, ollama 220 s. 2026-11-28: prometheus + promtool 225 s (their modules downloading). Warm: under 1 s."
} > BENCHMARKS.md.tmp
mv BENCHMARKS.md.tmp BENCHMARKS.md
cat BENCHMARKS.md
