#!/usr/bin/env bash
# make demo: a kwok lab up, a Deployment broken on purpose, the agent's
# post-mortem (rules only: the demo lab runs no model), then what to try next.
set -euo pipefail
lab=${LAB:-./bin/lab}
cfg=${CFG:-examples/kwok.yaml}
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "lab doctor: is this host ready?"
"$lab" doctor -c "$cfg" || true   # warnings (no GPU, no Docker) do not stop a kwok lab
step "lab up: a real control plane with simulated nodes"
kubeconfig=$("$lab" up -c "$cfg")
step "lab status"
"$lab" status -c "$cfg"
step "lab break crashloop-oom: a Deployment whose pods are OOM-killed"
pod=$("$lab" break crashloop-oom -c "$cfg" | awk '{print $3; exit}')
step "lab diagnose $pod: the agent's post-mortem"
"$lab" diagnose "$pod" -n demo --no-llm -c "$cfg" -o markdown

n=$("$lab" break -c "$cfg" | wc -l)
next() { printf '  %-72s # %s\n' "$1" "$2" >&2; }
printf '\n\033[1m== next\033[0m\n' >&2
next "$kubeconfig" "then: kubectl get nodes,pods -A"
next "$lab status -c $cfg" "health, nodes, drift, last up"
next "$lab break -c $cfg" "list the $n failure scenarios"
next "$lab break image-tag-typo -c $cfg" "break another, then diagnose the pod it prints"
next "$lab diagnose POD -n demo --no-llm -c $cfg -o json" "the same report as data"
next "$lab doctor" "what the full lab (kind, Argo CD, Linkerd, Prometheus, Ollama) needs here"
next "$lab down -c $cfg" "remove the demo lab: processes, files, ports"
